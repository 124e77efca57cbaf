using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using Elemta.Testing;
using MailKit.Net.Smtp;
using MimeKit;
using Xunit.Abstractions;

namespace Elemta.Silo.Tests;

/// <summary>
/// Three silo processes sharing one real PostgreSQL database form one Orleans cluster; mail goes in through two
/// of them while one is killed with SIGKILL, and every message acknowledged with 250 must reach the destination.
/// </summary>
public sealed partial class ClusterFailoverTests(ITestOutputHelper output)
{
    private const int Messages = 2000;
    private const int Domains = 12;
    private const int WorkersPerSilo = 6;
    private const int MessagesPerConnection = 25;

    [Fact]
    public async Task Three_silos_on_postgres_deliver_every_acknowledged_message_when_one_is_killed_mid_load()
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("cluster");
        await using var sink = SmtpSink.Start();
        using var dataA = new TempDirectory();
        using var dataB = new TempDirectory();
        using var dataC = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Storage:Provider"] = "PostgreSQL",
            ["Elemta:Storage:ConnectionString"] = connectionString,
            ["Elemta:Cluster:ClusterId"] = "failover-" + Guid.NewGuid().ToString("N")[..8],
            ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
            ["Elemta:Queue:SweepInterval"] = "00:00:02",
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:02",
            ["Elemta:Smtp:MaxMessagesPerConnection"] = "1000",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Elemta"] = "Information",
        };
        for (var d = 0; d < Domains; d++)
        {
            settings[$"Elemta:Delivery:Routes:d{d}.test"] = $"127.0.0.1:{sink.Port}";
        }

        // Started together: they race for the schema (one migrator at a time) and for the membership table.
        var silos = await Task.WhenAll(
            SiloProcess.StartAsync(dataA.Path, settings),
            SiloProcess.StartAsync(dataB.Path, settings),
            SiloProcess.StartAsync(dataC.Path, settings));
        var (siloA, siloB, siloC) = (silos[0], silos[1], silos[2]);
        await using var a = siloA;
        await using var b = siloB;
        await using var c = siloC;

        var acknowledged = new ConcurrentDictionary<int, string>();
        var refused = 0;
        var next = -1;
        var killAfter = Messages / 3;
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task WorkerAsync(int port, int fallbackPort)
        {
            // Until 2,000 messages have been acknowledged: refused ones are replaced by new ones, as the load goes on.
            while (acknowledged.Count < Messages)
            {
                var usePort = port;
                try
                {
                    using var client = new SmtpClient { Timeout = 120_000 };
                    usePort = port;
                    await client.ConnectAsync("127.0.0.1", usePort, MailKit.Security.SecureSocketOptions.None);
                    for (var sent = 0; sent < MessagesPerConnection; sent++)
                    {
                        if (acknowledged.Count >= Messages)
                        {
                            break;
                        }

                        var token = Interlocked.Increment(ref next);
                        try
                        {
                            using var message = Message(token);
                            var reply = await client.SendAsync(message, new MailboxAddress("", "load@example.org"), [new MailboxAddress("", $"rcpt{token}@d{token % Domains}.test")]);
                            acknowledged[token] = reply;
                            if (acknowledged.Count == killAfter)
                            {
                                killed.TrySetResult();
                            }
                        }
                        catch (SmtpCommandException)
                        {
                            // 4xx/5xx: not accepted, the client keeps the message (a real client would retry it later).
                            Interlocked.Increment(ref refused);
                        }
                    }

                    await client.DisconnectAsync(true);
                }
                catch (SmtpCommandException)
                {
                    // Refused at connect (421 while the cluster has not yet declared the dead silo dead): a real
                    // client backs off and tries again; this pause is that back-off, not synchronisation.
                    Interlocked.Increment(ref refused);
                    await Task.Delay(200);
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or SmtpProtocolException or MailKit.ServiceNotConnectedException or InvalidOperationException or OperationCanceledException)
                {
                    // The silo went away under this connection: whatever was not acknowledged is not ours to count.
                    Interlocked.Increment(ref refused);
                    port = fallbackPort;
                }
            }
        }

        var load = Task.WhenAll(Enumerable.Range(0, WorkersPerSilo).SelectMany(_ => new[]
        {
            Task.Run(() => WorkerAsync(siloA.SmtpPort, siloA.SmtpPort)),
            Task.Run(() => WorkerAsync(siloB.SmtpPort, siloA.SmtpPort)),
        }));

        await Task.WhenAny(killed.Task, load).WaitAsync(TimeSpan.FromMinutes(5));
        Assert.True(killed.Task.IsCompleted, $"the load ended before {killAfter} acknowledgements ({acknowledged.Count}, {refused} refused)\nA:\n{Tail(siloA.Output)}");
        // Silo B is a front-end with live SMTP sessions and, by Orleans' placement, some of the queue grains.
        await siloB.KillAsync();
        output.WriteLine($"killed silo B after {acknowledged.Count} acknowledgements");
        await load.WaitAsync(TimeSpan.FromMinutes(8));

        var expected = acknowledged.Keys.ToHashSet();
        output.WriteLine($"acknowledged {expected.Count}, refused or cut off {refused}");
        Assert.True(expected.Count >= Messages, $"only {expected.Count} of {Messages} acknowledged");

        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(5);
        Dictionary<int, int> delivered;
        while (true)
        {
            delivered = sink.Messages
                .Select(m => TokenPattern().Match(Encoding.ASCII.GetString(m.Data)))
                .Where(m => m.Success)
                .GroupBy(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
                .ToDictionary(g => g.Key, g => g.Count());
            if (expected.IsSubsetOf(delivered.Keys) || DateTime.UtcNow > deadline)
            {
                break;
            }

            await Task.Delay(500);
        }

        var missing = expected.Where(t => !delivered.ContainsKey(t)).Order().ToList();
        var duplicates = delivered.Where(d => d.Value > 1).Sum(d => d.Value - 1);
        output.WriteLine($"delivered {delivered.Count} distinct, {duplicates} duplicate(s), {missing.Count} missing");
        Assert.True(missing.Count == 0,
            $"{missing.Count} acknowledged message(s) never delivered, e.g. {string.Join(", ", missing.Take(10))}\nA:\n{Tail(siloA.Output)}\nC:\n{Tail(siloC.Output)}");
    }

    private static MimeMessage Message(int token)
    {
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Load", "load@example.org"));
        message.To.Add(new MailboxAddress("", $"rcpt{token}@d{token % Domains}.test"));
        message.Subject = $"load {token}";
        message.Headers.Add("X-Load-Token", token.ToString(CultureInfo.InvariantCulture));
        message.Body = new TextPart("plain") { Text = $"message {token}\r\n" };
        return message;
    }

    private static string Tail(string text) => text.Length <= 6000 ? text : text[^6000..];

    [GeneratedRegex(@"X-Load-Token: (\d+)")]
    private static partial Regex TokenPattern();
}
