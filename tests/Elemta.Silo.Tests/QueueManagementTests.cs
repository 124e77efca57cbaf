using System.Text;
using Elemta.Contracts;
using Elemta.Testing;
using MimeKit;
using MessagePriority = Elemta.Contracts.MessagePriority;

namespace Elemta.Silo.Tests;

/// <summary>
/// The queue manager through the real silo process and the client SDK: bounces and delay notices as real messages
/// delivered to a real sink, holds, priorities, statistics, deletes, explanations and retention.
/// </summary>
public sealed class QueueManagementTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static byte[] RawMessage(string subject) => Encoding.ASCII.GetBytes(
        "From: Alice <alice@example.org>\r\n" +
        "To: Bob <bob@example.net>\r\n" +
        $"Subject: {subject}\r\n" +
        "Message-ID: <" + Guid.NewGuid().ToString("N") + "@example.org>\r\n" +
        "Date: Tue, 24 Nov 2026 12:00:00 +0000\r\n" +
        "\r\n" +
        "Hello Bob\r\n");

    private static Task<string> SendAsync(SiloProcess silo, string sender, string subject, params string[] recipients) =>
        EndToEndTests.SendRawAsync(silo.SmtpPort, sender, recipients, RawMessage(subject));

    private static MessageDeliveryStatus DeliveryStatusOf(SinkMessage notice)
    {
        var message = MimeMessage.Load(new MemoryStream(notice.Data));
        var report = Assert.IsType<MultipartReport>(message.Body);
        Assert.Equal("delivery-status", report.ReportType);
        return Assert.Single(report.OfType<MessageDeliveryStatus>());
    }

    // MimeKit reads the blank line that ends the last group as one more, empty, group.
    private static IEnumerable<HeaderList> RecipientGroups(MessageDeliveryStatus status) => status.StatusGroups.Skip(1).Where(g => g.Count > 0);

    [Fact]
    public async Task A_permanent_failure_bounces_to_the_sender_with_an_RFC_3464_report_and_the_null_sender_never_gets_one()
    {
        await using var destination = SmtpSink.Start();
        destination.OnRecipient = rcpt => rcpt.StartsWith("nobody@", StringComparison.Ordinal) ? new SmtpSinkReply(550, "5.1.1 no such user here") : null;
        await using var senderSide = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Delivery:Routes:example.org"] = $"127.0.0.1:{senderSide.Port}",
            ["Elemta:Bounces:ReportingHostName"] = "mta.elemta.test",
        });

        var id = await SendAsync(silo, "alice@example.org", "will bounce", "bob@example.net", "nobody@example.net");

        var bounce = await senderSide.WaitForMessageAsync(_ => true, Timeout);
        Assert.Equal(string.Empty, bounce.MailFrom);
        Assert.Equal(["alice@example.org"], bounce.Recipients);
        var status = DeliveryStatusOf(bounce);
        Assert.Equal("dns; mta.elemta.test", status.StatusGroups[0]["Reporting-MTA"]);
        var recipient = Assert.Single(RecipientGroups(status));
        Assert.Equal("rfc822; nobody@example.net", recipient["Final-Recipient"]);
        Assert.Equal("failed", recipient["Action"]);
        Assert.Equal("5.1.1", recipient["Status"]);
        Assert.Contains("550 5.1.1 no such user here", recipient["Diagnostic-Code"], StringComparison.Ordinal);
        var text = Encoding.ASCII.GetString(bounce.Data);
        Assert.Contains("Subject: will bounce", text, StringComparison.Ordinal);
        Assert.Single(destination.Messages);

        // The null sender: the failure is recorded, and nothing is sent anywhere.
        await using var client = await silo.ConnectClientAsync();
        var nullSender = await SendAsync(silo, string.Empty, "bounce of a bounce", "nobody@example.net");
        var failed = await Eventually.GetAsync(() => client.GetMessageAsync(nullSender), s => s?.State.IsFinal() == true, Timeout, "the null-sender message to fail");
        Assert.Equal(MessageQueueState.Failed, failed!.State);
        var original = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.State.IsFinal() == true, Timeout, "the first message to finish");
        Assert.Equal(MessageQueueState.Failed, original!.State);
        var stats = await client.GetStatisticsAsync();
        // Two messages sent by the test, one bounce: no notice was made for the null sender.
        Assert.Equal(3, stats.Messages.Values.Sum());
        Assert.Single(senderSide.Messages);
    }

    [Fact]
    public async Task A_message_deferred_beyond_the_warning_age_sends_one_delay_notice()
    {
        await using var destination = SmtpSink.Start();
        destination.OnRecipient = _ => new SmtpSinkReply(451, "4.2.0 greylisted, come back later");
        await using var senderSide = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Delivery:Routes:example.org"] = $"127.0.0.1:{senderSide.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:00.3",
            ["Elemta:Queue:RetryJitter"] = "0",
            ["Elemta:Queue:DelayWarningAfter"] = "00:00:01",
        });

        var id = await SendAsync(silo, "alice@example.org", "slow", "bob@example.net");

        var notice = await senderSide.WaitForMessageAsync(_ => true, Timeout);
        var recipient = Assert.Single(RecipientGroups(DeliveryStatusOf(notice)));
        Assert.Equal("delayed", recipient["Action"]);
        Assert.Equal("4.2.0", recipient["Status"]);
        Assert.NotNull(recipient["Will-Retry-Until"]);

        await using var client = await silo.ConnectClientAsync();
        var attemptsAtNotice = (await client.GetMessageAsync(id))!.Recipients.Single().Attempts;
        await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s!.Recipients.Single().Attempts >= attemptsAtNotice + 3, Timeout, "three more attempts");
        Assert.Single(senderSide.Messages);
        Assert.True((await client.GetMessageAsync(id))!.Recipients.Single().DelayNotified);
    }

    [Fact]
    public async Task A_held_message_waits_until_released_and_explains_why()
    {
        var accept = false;
        await using var destination = SmtpSink.Start();
        destination.OnRecipient = _ => Volatile.Read(ref accept) ? null : new SmtpSinkReply(451, "4.7.1 try later");
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
        });
        await using var client = await silo.ConnectClientAsync();

        var id = await SendAsync(silo, "alice@example.org", "held", "bob@example.net");
        await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.State == MessageQueueState.Deferred, Timeout, "the first attempt to defer");
        var deferred = (await client.ExplainMessageAsync(id))!;
        Assert.Contains("451 4.7.1 try later", deferred.Summary, StringComparison.Ordinal);
        Assert.Contains("waiting for retry", Assert.Single(deferred.Domains).Queue.Summary, StringComparison.Ordinal);
        var history = Assert.Single(await client.GetAttemptsAsync(id));
        Assert.Equal("example.net", history.Domain);
        Assert.Equal("451 4.7.1 try later", Assert.Single(history.Attempt.Results).Reply);

        Assert.Equal(new QueueActionResult(1, 1), await client.ApplyToMessageAsync(id, QueueAction.Hold));
        Volatile.Write(ref accept, true);
        Assert.Equal(MessageQueueState.Held, (await client.GetMessageAsync(id))!.State);
        var held = (await client.ExplainMessageAsync(id))!;
        Assert.True(Assert.Single(held.Domains).Held);
        Assert.Contains("held by an operator", held.Summary, StringComparison.Ordinal);
        Assert.Equal(1, (await client.GetStatisticsAsync()).Messages[MessageQueueState.Held]);
        Assert.Empty(destination.Messages);

        await client.ApplyToMessageAsync(id, QueueAction.Release);

        await destination.WaitForMessageAsync(_ => true, Timeout);
        var done = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.State.IsFinal() == true, Timeout, "delivery after release");
        Assert.Equal(MessageQueueState.Delivered, done!.State);
    }

    [Fact]
    public async Task A_message_given_a_higher_priority_overtakes_the_ones_queued_before_it()
    {
        var accept = false;
        await using var destination = SmtpSink.Start();
        destination.OnRecipient = _ => Volatile.Read(ref accept) ? null : new SmtpSinkReply(451, "4.7.1 try later");
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
            ["Elemta:Queue:MaxConcurrentDeliveriesPerDomain"] = "1",
            ["Elemta:Queue:PriorityRules:0:Sender"] = "@lists.example.org",
            ["Elemta:Queue:PriorityRules:0:Priority"] = "Bulk",
        });
        await using var client = await silo.ConnectClientAsync();

        var ids = new List<string>();
        for (var i = 0; i < 4; i++)
        {
            ids.Add(await SendAsync(silo, "alice@example.org", $"message {i}", "bob@example.net"));
        }

        foreach (var id in ids)
        {
            await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.State == MessageQueueState.Deferred, Timeout, "every message deferred");
        }

        // A priority rule (policy) at acceptance: the list mail is queued as Bulk.
        var bulk = await SendAsync(silo, "news@lists.example.org", "newsletter", "bob@example.net");
        await Eventually.GetAsync(() => client.GetMessageAsync(bulk), s => s?.State == MessageQueueState.Deferred, Timeout, "the newsletter deferred");
        Assert.Equal(MessagePriority.Bulk, (await client.GetMessageAsync(bulk))!.Envelope.Priority);

        Assert.Equal(new QueueActionResult(1, 1), await client.SetMessagePriorityAsync(ids[^1], MessagePriority.Critical));
        Volatile.Write(ref accept, true);
        var retried = await client.ApplyToDomainAsync("example.net", QueueAction.RetryNow);
        Assert.Equal(5, retried.Entries);

        await destination.WaitForCountAsync(5, Timeout);
        var subjects = destination.Messages.Select(m => MimeMessage.Load(new MemoryStream(m.Data)).Subject).ToList();
        Assert.Equal("message 3", subjects[0]);
        Assert.Equal(["message 0", "message 1", "message 2"], subjects.Skip(1).Take(3));
        Assert.Equal("newsletter", subjects[4]);

        var stats = await Eventually.GetAsync(() => client.GetStatisticsAsync(), s => s.Messages[MessageQueueState.Delivered] == 5, Timeout, "statistics to count five deliveries");
        Assert.Equal(5, stats.LastHour.Delivered);
        Assert.Equal(5, stats.LastHour.Deferred);
        Assert.Null(stats.OldestPendingReceivedAt);
    }

    [Fact]
    public async Task Deleting_a_queued_message_removes_it_and_delivers_nothing()
    {
        await using var destination = SmtpSink.Start();
        destination.OnRecipient = _ => new SmtpSinkReply(451, "4.7.1 try later");
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
        });
        await using var client = await silo.ConnectClientAsync();
        var keep = await SendAsync(silo, "alice@example.org", "keep", "bob@example.net");
        var drop = await SendAsync(silo, "alice@example.org", "drop", "carol@example.net");
        await Eventually.GetAsync(() => client.GetStatisticsAsync(), s => s.Messages[MessageQueueState.Deferred] == 2, Timeout, "both deferred");

        Assert.Equal(new QueueActionResult(1, 1), await client.ApplyToMessageAsync(drop, QueueAction.Delete));

        Assert.Null(await client.GetMessageAsync(drop));
        Assert.NotNull(await client.GetMessageAsync(keep));
        Assert.Equal(1, (await client.GetDomainQueueAsync("example.net")).QueuedCount);
        var deferred = await client.ListAsync(new Elemta.Client.QueueFilter(MessageQueueState.Deferred)).ToListAsync();
        Assert.Equal([keep], deferred.Select(m => m.MessageId));

        // A whole state at once: every deferred message goes.
        Assert.Equal(1, (await client.ApplyToStateAsync(MessageQueueState.Deferred, QueueAction.Delete)).Messages);
        Assert.Null(await client.GetMessageAsync(keep));
        Assert.Equal(0, (await client.GetStatisticsAsync()).Messages.Values.Sum());
    }

    [Fact]
    public async Task Delivered_messages_are_forgotten_after_their_retention_period()
    {
        await using var destination = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Queue:DeliveredRetention"] = "00:00:00",
            ["Elemta:Queue:SweepInterval"] = "00:00:00.2",
        });
        await using var client = await silo.ConnectClientAsync();

        var id = await SendAsync(silo, "alice@example.org", "history", "bob@example.net");
        await destination.WaitForMessageAsync(_ => true, Timeout);

        await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s is null, Timeout, "the delivered message to be forgotten");
        Assert.Empty(await client.ListAsync(new Elemta.Client.QueueFilter(MessageQueueState.Delivered)).ToListAsync());
        Assert.Equal(0, (await client.GetStatisticsAsync()).Messages.Values.Sum());
    }
}
