using System.Text;
using Elemta.Contracts;
using MimeKit;
using MimeKit.Utils;
using static Elemta.Bounces.Tests.NoticeTestKit;

namespace Elemta.Bounces.Tests;

/// <summary>The notice as a message: envelope, header, the three parts of the report and every delivery-status field.</summary>
public class NoticeStructureTests
{
    [Fact]
    public void Notice_envelope_is_from_the_null_sender_to_the_original_sender_at_high_priority()
    {
        var notice = Builder().Build(Request(NoticeKind.Failure));

        var envelope = notice.Envelope;
        Assert.Equal("q0002notice", envelope.MessageId);
        Assert.Equal("", envelope.Sender);
        Assert.Equal("alice@example.org", Assert.Single(envelope.Recipients));
        Assert.Equal(Contracts.MessagePriority.High, envelope.Priority);
        Assert.Equal(Now, envelope.ReceivedAt);
        Assert.Equal("127.0.0.1", envelope.ClientAddress);
        Assert.Equal(Host, envelope.HeloName);
        Assert.Equal(notice.Content.Length, envelope.Size);
        Assert.Null(envelope.Dsn);
        Assert.False(envelope.RequireTls);
    }

    [Fact]
    public void Notice_of_a_requiretls_message_travels_under_requiretls_too()
    {
        var original = Encoding.ASCII.GetBytes(SimpleOriginal);
        var notice = Builder().Build(Request(NoticeKind.Failure, Envelope(requireTls: true, size: original.Length), originalBytes: original));
        Assert.True(notice.Envelope.RequireTls);
    }

    [Fact]
    public void Notice_header_names_the_mailer_daemon_the_sender_and_marks_it_auto_replied()
    {
        var message = Parse(Builder().Build(Request(NoticeKind.Failure)).Content);

        var from = Assert.IsType<MailboxAddress>(Assert.Single(message.From));
        Assert.Equal("Mail Delivery System", from.Name);
        Assert.Equal($"MAILER-DAEMON@{Host}", from.Address);
        Assert.Equal("alice@example.org", Assert.IsType<MailboxAddress>(Assert.Single(message.To)).Address);
        Assert.Equal("Undelivered Mail Returned to Sender", message.Subject);
        Assert.Equal(Now, message.Date);
        Assert.Equal($"q0002notice@{Host}", message.MessageId);
        Assert.Equal("auto-replied", message.Headers["Auto-Submitted"]);
        Assert.Equal("1.0", message.Headers[HeaderId.MimeVersion]);
        Assert.True(message.Body!.ContentType.IsMimeType("multipart", "report"));
        Assert.Equal("delivery-status", message.Body.ContentType.Parameters["report-type"]);
    }

    [Theory]
    [InlineData(NoticeKind.Failure, "Undelivered Mail Returned to Sender")]
    [InlineData(NoticeKind.Delay, "Delayed Mail (still being retried)")]
    [InlineData(NoticeKind.Success, "Successful Mail Delivery Report")]
    public void Subject_says_what_kind_of_notice_it_is(NoticeKind kind, string subject)
    {
        var action = kind switch { NoticeKind.Failure => RecipientAction.Failed, NoticeKind.Delay => RecipientAction.Delayed, _ => RecipientAction.Delivered };
        var report = new RecipientReport("bob@example.net", action, "250 2.0.0 Ok");
        Assert.Equal(subject, Parse(Builder().Build(Request(kind, reports: report)).Content).Subject);
    }

    [Fact]
    public void Per_message_fields_report_this_mta_the_envelope_id_the_arrival_and_the_queue_id()
    {
        var original = Encoding.ASCII.GetBytes(SimpleOriginal);
        var envelope = Envelope(dsn: Dsn(envelopeId: "QQ314159", recipients: []), size: original.Length);

        var (_, status, _) = Parts(Parse(Builder().Build(Request(NoticeKind.Failure, envelope, originalBytes: original)).Content));

        var perMessage = status.StatusGroups[0];
        Assert.Equal(["Original-Envelope-Id", "Reporting-MTA", "Arrival-Date", "X-Elemta-Queue-ID"], perMessage.Select(h => h.Field));
        Assert.Equal("QQ314159", Field(perMessage, "Original-Envelope-Id"));
        Assert.Equal($"dns; {Host}", Field(perMessage, "Reporting-MTA"));
        Assert.Equal(Arrival, DateUtils.TryParse(Field(perMessage, "Arrival-Date"), out var arrival) ? arrival : default);
        Assert.Equal("q0001original", Field(perMessage, "X-Elemta-Queue-ID"));
    }

    [Fact]
    public void Without_envid_there_is_no_original_envelope_id()
    {
        var (_, status, _) = Parts(Parse(Builder().Build(Request(NoticeKind.Failure)).Content));
        Assert.Null(Field(status.StatusGroups[0], "Original-Envelope-Id"));
    }

    [Fact]
    public void Failed_recipient_fields_carry_the_remote_reply_and_its_enhanced_status()
    {
        var report = new RecipientReport("bob@example.net", RecipientAction.Failed, "550 5.1.1 <bob@example.net>: Recipient address rejected",
            ReplyFromRemote: true, RemoteMta: "mx1.example.net", LastAttemptAt: Now.AddMinutes(-2));

        var (text, status, _) = Parts(Parse(Builder().Build(Request(NoticeKind.Failure, reports: report)).Content));

        Assert.Equal(2, status.StatusGroups.Count);
        var recipient = status.StatusGroups[1];
        Assert.Equal(["Final-Recipient", "Action", "Status", "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date"], recipient.Select(h => h.Field));
        Assert.Equal("rfc822; bob@example.net", Field(recipient, "Final-Recipient"));
        Assert.Equal("failed", Field(recipient, "Action"));
        Assert.Equal("5.1.1", Field(recipient, "Status"));
        Assert.Equal("dns; mx1.example.net", Field(recipient, "Remote-MTA"));
        Assert.Equal("smtp; 550 5.1.1 <bob@example.net>: Recipient address rejected", Field(recipient, "Diagnostic-Code"));
        Assert.True(DateUtils.TryParse(Field(recipient, "Last-Attempt-Date"), out var lastAttempt));
        Assert.Equal(Now.AddMinutes(-2), lastAttempt);
        Assert.Null(Field(recipient, "Will-Retry-Until"));

        Assert.Contains($"This is the mail system at host {Host}.", text.Text, StringComparison.Ordinal);
        Assert.Contains("<bob@example.net>: host mx1.example.net said: 550 5.1.1 <bob@example.net>: Recipient address rejected", text.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Local_failure_has_no_remote_mta_and_no_diagnostic_code()
    {
        var report = new RecipientReport("bob@example.net", RecipientAction.Failed, "556 5.1.10 example.net does not accept mail (null MX)");

        var (text, status, _) = Parts(Parse(Builder().Build(Request(NoticeKind.Failure, reports: report)).Content));

        var recipient = status.StatusGroups[1];
        Assert.Equal("5.1.10", Field(recipient, "Status"));
        Assert.Null(Field(recipient, "Remote-MTA"));
        Assert.Null(Field(recipient, "Diagnostic-Code"));
        Assert.Null(Field(recipient, "Last-Attempt-Date"));
        Assert.Contains("<bob@example.net>: 556 5.1.10 example.net does not accept mail (null MX)", text.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void One_notice_covers_every_recipient_due_in_their_order()
    {
        RecipientReport[] reports =
        [
            Failed("bob@example.net", "550 5.1.1 no such user"),
            Failed("carol@example.com", "552 5.2.2 mailbox full"),
            new("dave@example.org", RecipientAction.Failed, "expired after 5.00:00:00 in queue", Status: "4.4.7"),
        ];

        var (text, status, _) = Parts(Parse(Builder().Build(Request(NoticeKind.Failure, reports: reports)).Content));

        Assert.Equal(4, status.StatusGroups.Count);
        Assert.Equal(["rfc822; bob@example.net", "rfc822; carol@example.com", "rfc822; dave@example.org"],
            status.StatusGroups.Skip(1).Select(g => Field(g, "Final-Recipient")));
        Assert.Equal(["5.1.1", "5.2.2", "4.4.7"], status.StatusGroups.Skip(1).Select(g => Field(g, "Status")));
        Assert.All(status.StatusGroups.Skip(1), g => Assert.Equal("failed", Field(g, "Action")));
        foreach (var address in new[] { "bob@example.net", "carol@example.com", "dave@example.org" })
        {
            Assert.Contains($"<{address}>: ", text.Text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Delay_notice_reports_delayed_with_retry_deadline_and_only_the_header()
    {
        var until = Arrival.AddDays(5);
        var report = new RecipientReport("bob@example.net", RecipientAction.Delayed, "421 4.4.2 mx1.example.net: connection timed out",
            ReplyFromRemote: true, RemoteMta: "mx1.example.net", LastAttemptAt: Now.AddMinutes(-3), RetryUntil: until);

        var (text, status, returned) = Parts(Parse(Builder().Build(Request(NoticeKind.Delay, reports: report)).Content));

        var recipient = status.StatusGroups[1];
        Assert.Equal(["Final-Recipient", "Action", "Status", "Remote-MTA", "Diagnostic-Code", "Last-Attempt-Date", "Will-Retry-Until"],
            recipient.Select(h => h.Field));
        Assert.Equal("delayed", Field(recipient, "Action"));
        Assert.Equal("4.4.2", Field(recipient, "Status"));
        Assert.True(DateUtils.TryParse(Field(recipient, "Will-Retry-Until"), out var willRetryUntil));
        Assert.Equal(until, willRetryUntil);
        Assert.Contains("will be retried", text.Text, StringComparison.Ordinal);
        Assert.IsType<TextRfc822Headers>(returned);
    }

    [Theory]
    [InlineData(RecipientAction.Delivered, "delivered")]
    [InlineData(RecipientAction.Relayed, "relayed")]
    public void Success_notice_reports_delivered_or_relayed(RecipientAction action, string name)
    {
        var report = new RecipientReport("bob@example.net", action, "250 2.0.0 Ok: queued as 4QxY", ReplyFromRemote: true,
            RemoteMta: "mx1.example.net", LastAttemptAt: Now);

        var (_, status, returned) = Parts(Parse(Builder().Build(Request(NoticeKind.Success, reports: report)).Content));

        var recipient = status.StatusGroups[1];
        Assert.Equal(name, Field(recipient, "Action"));
        Assert.Equal("2.0.0", Field(recipient, "Status"));
        Assert.Equal("smtp; 250 2.0.0 Ok: queued as 4QxY", Field(recipient, "Diagnostic-Code"));
        Assert.Null(Field(recipient, "Will-Retry-Until"));
        Assert.IsType<TextRfc822Headers>(returned);
    }

    [Theory]
    [InlineData("550 5.7.1 Message rejected", RecipientAction.Failed, "5.7.1")]
    [InlineData("550-5.7.1 first line of a multi-line reply", RecipientAction.Failed, "5.7.1")]
    [InlineData("550 no enhanced code here", RecipientAction.Failed, "5.0.0")]
    [InlineData("554 4.7.1 class disagrees with the reply code", RecipientAction.Failed, "5.0.0")]
    [InlineData("451 4.3.0 try later", RecipientAction.Delayed, "4.3.0")]
    [InlineData("421 service not available", RecipientAction.Delayed, "4.0.0")]
    [InlineData("connection refused", RecipientAction.Delayed, "4.0.0")]
    [InlineData("no route to host", RecipientAction.Failed, "5.0.0")]
    [InlineData("250 Ok", RecipientAction.Delivered, "2.0.0")]
    [InlineData("550 5.1.10 null MX", RecipientAction.Failed, "5.1.10")]
    [InlineData("550 5.01.001 leading zeros", RecipientAction.Failed, "5.1.1")]
    public void Status_comes_from_the_enhanced_code_else_the_reply_code_else_the_action(string reply, RecipientAction action, string expected)
    {
        var kind = NotificationPolicy.KindOf(action);
        var report = new RecipientReport("bob@example.net", action, reply);

        var (_, status, _) = Parts(Parse(Builder().Build(Request(kind, reports: report)).Content));

        Assert.Equal(expected, Field(status.StatusGroups[1], "Status"));
    }

    [Fact]
    public void Long_diagnostic_is_folded_within_line_limits_and_reads_back_whole()
    {
        var reply = "550 5.7.1 " + string.Join(' ', Enumerable.Range(0, 60).Select(i => $"word{i}")) + " " + new string('x', 1200);
        var report = new RecipientReport("bob@example.net", RecipientAction.Failed, reply, ReplyFromRemote: true, RemoteMta: "mx1.example.net");

        var notice = Builder().Build(Request(NoticeKind.Failure, reports: report));
        var (_, status, _) = Parts(Parse(notice.Content));

        var lines = Encoding.ASCII.GetString(notice.Content).Split("\r\n");
        Assert.All(lines, line => Assert.True(line.Length <= 998, $"line of {line.Length} octets"));
        var diagnostic = lines.SkipWhile(l => !l.StartsWith("Diagnostic-Code:", StringComparison.Ordinal)).ToList();
        Assert.True(diagnostic[0].Length <= 78);
        Assert.StartsWith(" ", diagnostic[1], StringComparison.Ordinal);
        // Folding only adds line breaks at spaces, except inside the one word longer than a line may be.
        var value = Field(status.StatusGroups[1], "Diagnostic-Code")!;
        Assert.Equal("smtp; " + reply, value.Replace(new string('x', 900) + " ", new string('x', 900), StringComparison.Ordinal));
    }

    [Fact]
    public void Reply_with_line_breaks_controls_and_non_ascii_stays_one_ascii_field()
    {
        var reply = "550-5.7.1 first line\r\n550 5.7.1 second\tline with caf\u00e9";
        var report = new RecipientReport("bob@example.net", RecipientAction.Failed, reply, ReplyFromRemote: true, RemoteMta: "mx1.example.net");

        var notice = Builder().Build(Request(NoticeKind.Failure, reports: report));
        var (text, status, _) = Parts(Parse(notice.Content));

        Assert.Equal("smtp; 550-5.7.1 first line 550 5.7.1 second line with caf\\x{E9}", Field(status.StatusGroups[1], "Diagnostic-Code"));
        Assert.Equal("5.7.1", Field(status.StatusGroups[1], "Status"));
        Assert.Contains("550-5.7.1 first line 550 5.7.1 second line with caf\u00e9", text.Text, StringComparison.Ordinal);
        Assert.Equal("utf-8", text.ContentType.Charset);
        Assert.Equal(ContentEncoding.QuotedPrintable, text.ContentTransferEncoding);
    }

    [Fact]
    public void Build_refuses_the_null_sender_an_empty_report_and_a_mismatched_action()
    {
        var builder = Builder();
        Assert.Throws<ArgumentException>(() => builder.Build(Request(NoticeKind.Failure, Envelope(sender: ""))));
        Assert.Throws<ArgumentException>(() => builder.Build(Request(NoticeKind.Failure) with { Recipients = [] }));
        Assert.Throws<ArgumentException>(() => builder.Build(Request(NoticeKind.Delay, reports: Failed())));
        Assert.Throws<ArgumentException>(() => builder.Build(Request(NoticeKind.Failure, reports: Failed() with { Status = "5.1" })));
    }
}
