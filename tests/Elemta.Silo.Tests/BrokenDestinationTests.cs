using System.Diagnostics;
using Elemta.Contracts;
using Elemta.Storage;
using Elemta.Storage.Sqlite;
using Elemta.Testing;
using MailKit.Net.Smtp;
using MimeKit;
using Xunit.Abstractions;

namespace Elemta.Silo.Tests;

/// <summary>
/// Issue 15's slow and broken destinations: one that stalls after DATA, one that drops the connection after DATA, one
/// that answers 4xx forever and one that trickles its replies one octet per second, beside a healthy one. The healthy
/// domain gets all its mail without waiting for the others' timeouts, the broken ones' messages stay queued (none
/// failed, none lost), and the silo's memory stays bounded; the figures go to the test output.
/// </summary>
public sealed class BrokenDestinationTests(ITestOutputHelper output)
{
    private const int Healthy = 300;
    private const int PerBroken = 30;

    [Fact]
    public async Task Stalling_dropping_4xx_and_trickling_destinations_do_not_hold_up_a_healthy_one_and_lose_nothing()
    {
        await using var healthy = SmtpSink.Start();
        await using var tempFail = SmtpSink.Start();
        tempFail.OnData = _ => new SmtpSinkReply(451, "4.3.0 try again later");
        await using var stall = BrokenSmtpServer.Start(SmtpServerFault.StallAfterData);
        await using var drop = BrokenSmtpServer.Start(SmtpServerFault.DropAfterData);
        await using var trickle = BrokenSmtpServer.Start(SmtpServerFault.OneOctetPerSecond);
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:healthy.test"] = $"127.0.0.1:{healthy.Port}",
            ["Elemta:Delivery:Routes:tempfail.test"] = $"127.0.0.1:{tempFail.Port}",
            ["Elemta:Delivery:Routes:stall.test"] = $"127.0.0.1:{stall.EndPoint.Port}",
            ["Elemta:Delivery:Routes:drop.test"] = $"127.0.0.1:{drop.EndPoint.Port}",
            ["Elemta:Delivery:Routes:trickle.test"] = $"127.0.0.1:{trickle.EndPoint.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:05",
        });
        var before = silo.ResidentBytes();

        // The broken domains' mail goes in first and throughout, so their deliveries are under way the whole time.
        var broken = new[] { "tempfail.test", "stall.test", "drop.test", "trickle.test" };
        var recipients = new List<string>();
        for (var i = 0; i < Healthy; i++)
        {
            if (i % (Healthy / PerBroken) == 0)
            {
                recipients.AddRange(broken.Select(d => $"user{i}@{d}"));
            }

            recipients.Add($"user{i}@healthy.test");
        }

        var clock = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, 8).Select(lane => SendAsync(silo.SmtpPort, recipients.Where((_, n) => n % 8 == lane))));
        var accepted = clock.Elapsed;

        // Every healthy message arrives well inside the delivery timeouts the broken destinations are holding up
        // (5 minutes per command): the healthy domain never waited for them.
        await healthy.WaitForCountAsync(Healthy, TimeSpan.FromSeconds(90));
        var delivered = clock.Elapsed;
        var peak = silo.ResidentBytes();
        output.WriteLine($"{recipients.Count} messages accepted in {accepted.TotalSeconds:F1} s; {Healthy} healthy delivered after {delivered.TotalSeconds:F1} s; " +
            $"RSS {before / 1048576} -> {peak / 1048576} MiB; stall took {stall.Connections} connections, drop {drop.Connections} ({drop.Messages} messages read), " +
            $"trickle {trickle.Connections}, the 4xx destination took {tempFail.ConnectionCount} connections");

        Assert.True(stall.Connections > 0 && drop.Connections > 0 && trickle.Connections > 0, "every broken destination was tried");
        Assert.True(peak - before < 256L * 1024 * 1024, $"RSS grew by {(peak - before) / 1048576} MiB");

        // Nothing lost and nothing given up on: the broken domains' messages are all still queued.
        await using var store = new SqliteDatabase(SqliteDatabase.ConnectionStringFor(Path.Combine(data.Path, "elemta.db")));
        // The sink has every healthy message once the remote 250s are sent; each is recorded in the store just after.
        var statistics = await Eventually.GetAsync(
            () => new QueueOperations(store).GetStatisticsAsync(DateTimeOffset.UtcNow, 1, CancellationToken.None),
            s => s.Messages[MessageQueueState.Delivered] >= Healthy, TimeSpan.FromSeconds(30), "the healthy deliveries recorded");
        var queued = statistics.Messages[MessageQueueState.Active] + statistics.Messages[MessageQueueState.Deferred];
        output.WriteLine($"queue: delivered {statistics.Messages[MessageQueueState.Delivered]}, active {statistics.Messages[MessageQueueState.Active]}, deferred {statistics.Messages[MessageQueueState.Deferred]}, failed {statistics.Messages[MessageQueueState.Failed]}");
        Assert.Equal(Healthy, statistics.Messages[MessageQueueState.Delivered]);
        Assert.Equal(broken.Length * PerBroken, queued);
        Assert.Equal(0, statistics.Messages[MessageQueueState.Failed]);
        Assert.False(silo.HasExited);
    }

    /// <summary>One message per recipient, on one connection per lane (under MaxMessagesPerConnection, 100).</summary>
    private static async Task SendAsync(int port, IEnumerable<string> recipients)
    {
        using var client = new SmtpClient { Timeout = 60_000 };
        await client.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
        foreach (var recipient in recipients)
        {
            using var message = new MimeMessage();
            message.From.Add(new MailboxAddress("", "sender@example.org"));
            message.To.Add(new MailboxAddress("", recipient));
            message.Subject = recipient;
            message.Body = new TextPart("plain") { Text = "to a destination that may be broken\r\n" };
            await client.SendAsync(message);
        }

        await client.DisconnectAsync(true);
    }
}
