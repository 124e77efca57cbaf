using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using System.Threading.Channels;
using Elemta.Contracts;
using Elemta.Testing;
using MailKit.Net.Smtp;
using MimeKit;
using Npgsql;
using Xunit.Abstractions;

namespace Elemta.Silo.Tests;

/// <summary>
/// Three silo processes sharing one real PostgreSQL database form one Orleans cluster. Clients send round-robin to all
/// three while one is killed with SIGKILL after a third of the messages are acknowledged, and retry, as real clients
/// do, every message not acknowledged with 250. Every acknowledged message must be delivered, and (nearly) once.
/// </summary>
/// <remarks>
/// The figures (acknowledged, lost, duplicated, refused tries on the surviving silos, the 4xx window, the time until
/// the killed silo was declared dead) are written to the test output for the record; see docs/cluster.md.
/// </remarks>
public sealed partial class ClusterFailoverTests(ITestOutputHelper output)
{
    // Duplicates come from what was in flight on the killed silo (deliveries under way, transactions between commit and
    // 250 on its cut connections): a handful per crash whatever the volume (0-12 seen at 900-1,500 messages on two
    // shared cores), so the 0.5 % bound needs a volume where a handful is well inside it.
    private const int Messages = 3000;
    private const int Clients = 12;
    private const int Domains = 12;
    private const int MessagesPerConnection = 10;
    private const int Killed = 1;

    // Orleans' SiloStatus.Dead, as stored in OrleansMembershipTable.Status.
    private const int DeadStatus = 6;

    [Fact]
    public async Task Three_silos_on_postgres_deliver_every_acknowledged_message_once_when_one_is_killed_mid_load()
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("cluster");
        var clusterId = "failover-" + Guid.NewGuid().ToString("N")[..8];
        await using var sink = SmtpSink.Start();
        using var dataA = new TempDirectory();
        using var dataB = new TempDirectory();
        using var dataC = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Storage:Provider"] = "PostgreSQL",
            ["Elemta:Storage:ConnectionString"] = connectionString,
            ["Elemta:Cluster:ClusterId"] = clusterId,
            ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
            ["Elemta:Queue:SweepInterval"] = "00:00:02",
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:02",
            ["Elemta:Smtp:MaxMessagesPerConnection"] = "1000",
            ["Logging:LogLevel:Default"] = "Warning",
            // Warnings only (a line per message costs CPU the two-core CI machine needs), but the test waits for the
            // listener's line.
            ["Logging:LogLevel:Elemta"] = "Warning",
            ["Logging:LogLevel:Elemta.Smtp.Server.SmtpListener"] = "Information",
            ["Logging:LogLevel:Elemta.Http"] = "Information",
        };
        for (var d = 0; d < Domains; d++)
        {
            settings[$"Elemta:Delivery:Routes:d{d}.test"] = $"127.0.0.1:{sink.Port}";
        }

        var silos = await StartThreeAsync(dataA, dataB, dataC, settings);
        await using var a = silos[0];
        await using var b = silos[1];
        await using var c = silos[2];

        var clock = Stopwatch.StartNew();
        var tokens = Channel.CreateUnbounded<int>();
        for (var token = 0; token < Messages; token++)
        {
            tokens.Writer.TryWrite(token);
        }

        var acknowledged = new ConcurrentDictionary<int, int>();
        var cutOff = new ConcurrentDictionary<int, bool>();
        var tries = new ConcurrentQueue<Try>();
        var down = new bool[silos.Length];
        var killAt = TimeSpan.Zero;
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        async Task ClientAsync(int client)
        {
            var turn = client;
            while (await tokens.Reader.WaitToReadAsync())
            {
                // Round-robin over the silos this client has not found dead; a real client has them as MX hosts.
                var silo = turn++ % silos.Length;
                if (Volatile.Read(ref down[silo]))
                {
                    continue;
                }

                var token = -1;
                try
                {
                    using var smtp = new SmtpClient { Timeout = 60_000 };
                    await smtp.ConnectAsync("127.0.0.1", silos[silo].SmtpPort, MailKit.Security.SecureSocketOptions.None);
                    for (var sent = 0; sent < MessagesPerConnection && tokens.Reader.TryRead(out token); sent++)
                    {
                        try
                        {
                            using var message = Message(token);
                            await smtp.SendAsync(message, new MailboxAddress("", "load@example.org"), [new MailboxAddress("", $"rcpt{token}@d{token % Domains}.test")]);
                            tries.Enqueue(new Try(silo, clock.Elapsed, Outcome.Acknowledged));
                            acknowledged[token] = silo;
                            if (acknowledged.Count >= Messages / 3)
                            {
                                killed.TrySetResult();
                            }

                            if (acknowledged.Count >= Messages)
                            {
                                tokens.Writer.TryComplete();
                            }
                        }
                        catch (SmtpCommandException)
                        {
                            // 4xx/5xx: not accepted, the client keeps the message and tries again.
                            tries.Enqueue(new Try(silo, clock.Elapsed, Outcome.Refused));
                            tokens.Writer.TryWrite(token);
                        }

                        token = -1;
                    }

                    await smtp.DisconnectAsync(true);
                }
                catch (SmtpCommandException)
                {
                    // Refused at connect (421).
                    tries.Enqueue(new Try(silo, clock.Elapsed, Outcome.Refused));
                    if (token >= 0)
                    {
                        tokens.Writer.TryWrite(token);
                    }
                }
                catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or SmtpProtocolException or MailKit.ServiceNotConnectedException or InvalidOperationException or OperationCanceledException)
                {
                    // The silo went away under the connection: no 250, so the client sends the message again (if the
                    // commit had happened, that is a duplicate no SMTP server can avoid, RFC 1047).
                    tries.Enqueue(new Try(silo, clock.Elapsed, Outcome.CutOff));
                    if (token >= 0)
                    {
                        cutOff[token] = true;
                        tokens.Writer.TryWrite(token);
                    }
                }
            }
        }

        var load = Task.WhenAll(Enumerable.Range(0, Clients).Select(client => Task.Run(() => ClientAsync(client))));
        await Task.WhenAny(killed.Task, load).WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(killed.Task.IsCompleted, $"the load ended before {Messages / 3} acknowledgements ({acknowledged.Count})\nA:\n{Tail(a.Output)}");

        // Silo B has live SMTP sessions and, by Orleans' placement, a third of the message and queue grains.
        await b.KillAsync();
        killAt = clock.Elapsed;
        Volatile.Write(ref down[Killed], true);
        var acknowledgedAtKill = acknowledged.Count;
        var declaredDead = WaitDeclaredDeadAsync(connectionString, clusterId, b.GatewayPort, clock);

        await load.WaitAsync(TimeSpan.FromMinutes(3));
        var loadEnd = clock.Elapsed;
        var detection = await declaredDead - killAt;

        var all = tries.ToList();
        var refused = all.Where(t => t.Silo != Killed && t.Outcome == Outcome.Refused).ToList();
        var window = refused.Count == 0 ? TimeSpan.Zero : refused.Max(t => t.At) - killAt;
        output.WriteLine($"messages {Messages}, {Clients} clients round-robin over 3 silos, silo B killed (SIGKILL) at {killAt.TotalSeconds:F1} s after {acknowledgedAtKill} acknowledgements");
        output.WriteLine($"acknowledged {acknowledged.Count} by {loadEnd.TotalSeconds:F1} s; tries {all.Count}: refused {all.Count(t => t.Outcome == Outcome.Refused)}, cut off {all.Count(t => t.Outcome == Outcome.CutOff)} (A: {Describe(all, 0)}; B: {Describe(all, 1)}; C: {Describe(all, 2)})");
        output.WriteLine($"refused tries on surviving silos: {refused.Count}; their 4xx window: {(refused.Count == 0 ? "none" : $"until {window.TotalSeconds:F1} s after the kill")}");
        output.WriteLine($"silo B declared dead {detection.TotalSeconds:F1} s after the kill");
        // Before the 250-after-commit rule each of these was a 451 for a committed message, and the client's retry a duplicate.
        var survivorLogs = a.Output + c.Output;
        output.WriteLine($"committed messages answered 250 although their grain wake-up failed: {Count(survivorLogs, "[1101]")}, timed out: {Count(survivorLogs, "[1102]")}");

        // Every acknowledged message delivered, and nothing left in the queue that could still be delivered again.
        var expected = acknowledged.Keys.ToHashSet();
        await using var admin = await Elemta.Client.ElemtaClient.ConnectAsync(new Elemta.Client.ElemtaClientOptions { GatewayPort = a.GatewayPort, ClusterId = clusterId });
        var delivered = await Eventually.GetAsync(
            async () => (Delivered(sink), await Pending(admin)),
            s => expected.IsSubsetOf(s.Item1.Keys) && s.Item2 == 0,
            TimeSpan.FromMinutes(2),
            "every acknowledged message delivered and the queue empty");
        var counts = delivered.Item1;
        var missing = expected.Where(t => !counts.ContainsKey(t)).Order().ToList();
        var duplicates = counts.Values.Sum(n => n - 1);
        output.WriteLine($"all delivered by {clock.Elapsed.TotalSeconds:F1} s: {counts.Count} distinct, lost {missing.Count}, duplicates {duplicates} ({100.0 * duplicates / expected.Count:F2} % of acknowledged)");
        var twice = counts.Where(d => d.Value > 1).Select(d => d.Key).ToList();
        // A message accepted by one silo may be delivered by a queue on another, so the silo that acknowledged a
        // duplicate says nothing of where it was in flight; a cut connection's retry is the one cause told apart.
        var breakdown = $"duplicates of messages sent again after a cut connection: {twice.Count(cutOff.ContainsKey)}, "
            + $"of deliveries in flight when silo B died: {twice.Count(t => !cutOff.ContainsKey(t))}";
        output.WriteLine(breakdown);

        Assert.True(missing.Count == 0,
            $"{missing.Count} acknowledged message(s) never delivered, e.g. {string.Join(", ", missing.Take(10))}\nA:\n{Tail(a.Output)}\nC:\n{Tail(c.Output)}");
        Assert.True(duplicates <= expected.Count * 0.005, $"{duplicates} duplicate deliveries of {expected.Count} acknowledged (at most 0.5 % allowed); {breakdown}");
        Assert.True(detection < TimeSpan.FromSeconds(20), $"silo B declared dead only {detection.TotalSeconds:F1} s after the kill");
    }

    [Fact]
    public async Task A_silo_that_stops_answering_is_declared_dead_within_the_membership_defaults_window()
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("frozen");
        var clusterId = "frozen-" + Guid.NewGuid().ToString("N")[..8];
        using var dataA = new TempDirectory();
        using var dataB = new TempDirectory();
        using var dataC = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Storage:Provider"] = "PostgreSQL",
            ["Elemta:Storage:ConnectionString"] = connectionString,
            ["Elemta:Cluster:ClusterId"] = clusterId,
            ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
        };
        var silos = await StartThreeAsync(dataA, dataB, dataC, settings);
        await using var a = silos[0];
        await using var b = silos[1];
        await using var c = silos[2];

        // Frozen, not killed: its sockets stay open, so nothing is refused and only missed probes can tell, the case
        // the probe timeout is tuned for (a killed process's refused connections are found sooner).
        var clock = Stopwatch.StartNew();
        await b.SignalAsync("STOP");
        TimeSpan detection;
        try
        {
            detection = await WaitDeclaredDeadAsync(connectionString, clusterId, b.GatewayPort, clock);
        }
        finally
        {
            await b.SignalAsync("CONT");
        }

        output.WriteLine($"frozen silo (SIGSTOP) declared dead {detection.TotalSeconds:F1} s after it stopped answering");
        // About 10 s measured on an idle machine; Orleans lengthens its probes while the prober itself is starved of
        // CPU (as in CI, with other test classes running), so the bound is 20 s: still well below the 27 s that
        // Orleans' default MaxProbeTimeout gives, which is what this test tells apart.
        Assert.True(detection < TimeSpan.FromSeconds(20), $"declared dead only after {detection.TotalSeconds:F1} s");
    }

    private enum Outcome
    {
        Acknowledged,
        Refused,
        CutOff,
    }

    private sealed record Try(int Silo, TimeSpan At, Outcome Outcome);

    private static int Count(string text, string what)
    {
        var count = 0;
        for (var at = text.IndexOf(what, StringComparison.Ordinal); at >= 0; at = text.IndexOf(what, at + what.Length, StringComparison.Ordinal))
        {
            count++;
        }

        return count;
    }

    private static string Describe(List<Try> tries, int silo) =>
        $"{tries.Count(t => t.Silo == silo && t.Outcome == Outcome.Acknowledged)} acknowledged, {tries.Count(t => t.Silo == silo && t.Outcome == Outcome.Refused)} refused, {tries.Count(t => t.Silo == silo && t.Outcome == Outcome.CutOff)} cut off";

    /// <summary>Deliveries per token the sink has received.</summary>
    private static Dictionary<int, int> Delivered(SmtpSink sink) =>
        sink.Messages
            .Select(m => TokenPattern().Match(Encoding.ASCII.GetString(m.Data)))
            .Where(m => m.Success)
            .GroupBy(m => int.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture))
            .ToDictionary(g => g.Key, g => g.Count());

    /// <summary>Messages that could still be delivered (again): anything not final.</summary>
    private static async Task<long> Pending(Elemta.Client.ElemtaClient admin)
    {
        var messages = (await admin.GetStatisticsAsync()).Messages;
        return messages.GetValueOrDefault(MessageQueueState.Active) + messages.GetValueOrDefault(MessageQueueState.Deferred) + messages.GetValueOrDefault(MessageQueueState.Held);
    }

    /// <summary>
    /// When the cluster wrote the silo with gateway port <paramref name="gatewayPort"/> as dead in the membership
    /// table: the moment the surviving silos stop routing to it and its grains can activate elsewhere.
    /// </summary>
    private static async Task<TimeSpan> WaitDeclaredDeadAsync(string connectionString, string clusterId, int gatewayPort, Stopwatch clock)
    {
        await using var connection = new NpgsqlConnection(connectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT count(*) FROM orleansmembershiptable WHERE deploymentid = @cluster AND proxyport = @port AND status = @dead", connection);
        query.Parameters.AddWithValue("cluster", clusterId);
        query.Parameters.AddWithValue("port", gatewayPort);
        query.Parameters.AddWithValue("dead", DeadStatus);
        await Eventually.GetAsync(async () => (long)(await query.ExecuteScalarAsync())!, n => n > 0, TimeSpan.FromMinutes(2), "the killed silo to be declared dead");
        return clock.Elapsed;
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

    /// <summary>Three silos started together: they race for the schema (one migrator at a time) and for the membership table.</summary>
    private static Task<SiloProcess[]> StartThreeAsync(TempDirectory a, TempDirectory b, TempDirectory c, Dictionary<string, string> settings) =>
        Task.WhenAll(SiloProcess.StartAsync(a.Path, settings), SiloProcess.StartAsync(b.Path, settings), SiloProcess.StartAsync(c.Path, settings));

    private static string Tail(string text) => text.Length <= 6000 ? text : text[^6000..];

    [GeneratedRegex(@"X-Load-Token: (\d+)")]
    private static partial Regex TokenPattern();
}
