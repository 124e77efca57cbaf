using System.Text;
using System.Text.RegularExpressions;
using Elemta.Testing;
using MailKit.Net.Smtp;
using MimeKit;
using Xunit.Abstractions;

namespace Elemta.Silo.Tests;

/// <summary>
/// A silo on PostgreSQL whose database goes away while it runs: until the database is back, a message is answered
/// <c>451 4.3.0</c> (never 250 without a durable commit) and the silo stays up; once it is back, mail is accepted
/// again without a restart and every acknowledged message — from before and after the outage — is delivered once.
/// </summary>
public sealed partial class DatabaseOutageTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(120);

    [Fact]
    public async Task While_postgres_is_down_messages_get_451_and_when_it_returns_mail_flows_again_without_a_restart()
    {
        var server = await PostgresServer.StartOwnAsync();
        var connectionString = await server.CreateDatabaseAsync("outage");
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        var settings = Settings(connectionString, "outage", sink);
        await using var silo = await SiloProcess.StartAsync(data.Path, settings);

        var acknowledged = new List<string>();
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(250, await SendAsync(silo.SmtpPort, $"before-{i}"));
            acknowledged.Add($"before-{i}");
        }

        // Delivered and recorded before the outage: a delivery whose outcome cannot be recorded is repeated later
        // (at least once, as in every MTA), which is the reliability battery's subject, not this test's.
        await using (var store = new Elemta.Storage.Postgres.PostgresDatabase(connectionString))
        {
            var operations = new Elemta.Storage.QueueOperations(store);
            await Eventually.GetAsync(
                async () => (await operations.GetStatisticsAsync(DateTimeOffset.UtcNow, 1, CancellationToken.None)).Messages[Elemta.Contracts.MessageQueueState.Delivered],
                delivered => delivered == acknowledged.Count, Timeout, "the first messages recorded as delivered");
        }

        await server.StopServerAsync();
        var during = new List<int>();
        for (var i = 0; i < 5; i++)
        {
            var code = await SendAsync(silo.SmtpPort, $"during-{i}");
            during.Add(code);
            if (code == 250)
            {
                acknowledged.Add($"during-{i}");
            }
        }

        output.WriteLine($"replies while the database was down: {string.Join(", ", during)}");
        Assert.All(during, code => Assert.Equal(451, code));

        await server.StartServerAsync();
        // The first acceptance after the outage may still meet a connection the pool had before it; poll until one
        // is accepted, then the rest must be.
        var first = await Eventually.GetAsync(async () => await SendAsync(silo.SmtpPort, "after-first"), code => code == 250, Timeout, "a 250 after the database came back");
        acknowledged.Add("after-first");
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(250, await SendAsync(silo.SmtpPort, $"after-{i}"));
            acknowledged.Add($"after-{i}");
        }

        await sink.WaitForCountAsync(acknowledged.Count, Timeout);
        var delivered = sink.Messages.Select(m => SubjectOf(m.Data)).ToList();
        Assert.Equal(acknowledged.Order(), delivered.Order());
        Assert.DoesNotContain(delivered, s => s.StartsWith("during-", StringComparison.Ordinal));
        Assert.False(silo.HasExited, "the silo exited during the outage");
    }

    [Fact]
    public async Task Postgres_stopped_in_the_middle_of_a_load_of_2000_messages_loses_no_acknowledged_message()
    {
        const int Total = 2000;
        var server = await PostgresServer.StartOwnAsync();
        var connectionString = await server.CreateDatabaseAsync("outageload");
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        var settings = Settings(connectionString, "outageload", sink);
        await using var silo = await SiloProcess.StartAsync(data.Path, settings);

        // Ten clients send 200 messages each, one connection per message, retrying a 4xx as a client's queue would,
        // while the database is stopped after the first 500 acknowledgements and started again 5 seconds later.
        var acknowledged = new System.Collections.Concurrent.ConcurrentBag<string>();
        var temporary = 0;
        var next = -1;
        var outage = Task.Run(async () =>
        {
            await Eventually.GetAsync(() => Task.FromResult(acknowledged.Count), n => n >= 500, Timeout, "500 acknowledged before the outage");
            await server.StopServerAsync();
            await Task.Delay(TimeSpan.FromSeconds(5)); // the outage's length, not a synchronisation
            await server.StartServerAsync();
        });
        await Task.WhenAll(Enumerable.Range(0, 10).Select(_ => Task.Run(async () =>
        {
            for (var n = Interlocked.Increment(ref next); n < Total; n = Interlocked.Increment(ref next))
            {
                var subject = $"load-{n}";
                var deadline = DateTime.UtcNow + Timeout;
                int code;
                while ((code = await SendAsync(silo.SmtpPort, subject)) != 250 && DateTime.UtcNow < deadline)
                {
                    Interlocked.Increment(ref temporary);
                    Assert.InRange(code, 400, 499);
                    await Task.Delay(200); // a client's retry interval
                }

                Assert.Equal(250, code);
                acknowledged.Add(subject);
            }
        })));
        await outage;

        await sink.WaitForCountAsync(Total, Timeout);
        await Eventually.GetAsync(() => Task.FromResult(sink.Messages.Select(m => SubjectOf(m.Data)).Distinct().Count()), n => n == Total, Timeout, "every acknowledged message at the sink");
        var delivered = sink.Messages.Select(m => SubjectOf(m.Data)).ToList();
        var unique = delivered.Distinct().Count();
        output.WriteLine($"acknowledged {acknowledged.Count}, answered 4xx {temporary} times during the outage, delivered {unique}, duplicated {delivered.Count - unique}, lost {Total - unique}");
        Assert.Equal(Total, acknowledged.Distinct().Count());
        Assert.Equal(Total, unique);
        Assert.True(temporary > 0, "the outage was seen by clients as 4xx replies");
        Assert.False(silo.HasExited, "the silo exited during the outage");
    }

    /// <summary>One silo on the test's PostgreSQL, retrying soon, relaying example.net to <paramref name="sink"/>.</summary>
    private static Dictionary<string, string> Settings(string connectionString, string cluster, SmtpSink sink) => new()
    {
        ["Elemta:Storage:Provider"] = "PostgreSQL",
        ["Elemta:Storage:ConnectionString"] = connectionString,
        ["Elemta:Storage:Postgres:TransientRetries"] = "2",
        ["Elemta:Cluster:ClusterId"] = cluster + "-" + Guid.NewGuid().ToString("N")[..8],
        ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
        ["Elemta:Queue:SweepInterval"] = "00:00:02",
        ["Elemta:Queue:RetrySchedule:0"] = "00:00:02",
        ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
    };

    /// <summary>Sends one message on its own connection; the SMTP code of the reply to the end of DATA (or of the refusal before it).</summary>
    private static async Task<int> SendAsync(int port, string subject)
    {
        using var client = new SmtpClient { Timeout = 60_000 };
        try
        {
            await client.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
            using var message = new MimeMessage();
            message.From.Add(new MailboxAddress("", "sender@example.org"));
            message.To.Add(new MailboxAddress("", "rcpt@example.net"));
            message.Subject = subject;
            message.Body = new TextPart("plain") { Text = "during a database outage\r\n" };
            await client.SendAsync(message);
            await client.DisconnectAsync(true);
            return 250;
        }
        catch (SmtpCommandException ex)
        {
            return (int)ex.StatusCode;
        }
    }

    private static string SubjectOf(byte[] data) =>
        SubjectLine().Match(Encoding.ASCII.GetString(data)).Groups[1].Value.Trim();

    [GeneratedRegex(@"^Subject: (.*)$", RegexOptions.Multiline | RegexOptions.CultureInvariant)]
    private static partial Regex SubjectLine();
}
