using System.Net.Sockets;
using System.Text;
using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>
/// The counters of the limits, scraped live from a real silo before and after: expiry of a message whose queue
/// lifetime runs out, a destination's rate budget throttling delivery starts, and the per-client rate limits of the
/// SMTP front-end (connections per address, AUTH failures).
/// </summary>
public sealed partial class ObservabilityTests
{
    [Fact]
    public async Task A_recipient_whose_queue_lifetime_runs_out_counts_as_expired_and_bounced_once()
    {
        await using var sink = StartSink();
        using var data = new TempDirectory();
        // later@ is deferred (450) at every attempt, retried every second, and outlives a 3-second queue lifetime.
        await using var silo = await StartSiloAsync(data, sink, new()
        {
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:01",
            ["Elemta:Queue:MaxQueueLifetime"] = "00:00:03",
        });
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };
        var before = await ScrapeAsync(http);

        // The null sender: no bounce is queued, so nothing else is delivered or deferred meanwhile.
        await SendNullSenderAsync(silo.SmtpPort, ["later@example.net"]);

        // Attempts are counted before their outcome is recorded; wait for a scrape that has both of the last one.
        double Attempts(Dictionary<string, double> m) =>
            Delta(before, m, "elemta_delivery_attempt_duration_seconds_count{result=\"deferred\"}") + Delta(before, m, "elemta_delivery_attempt_duration_seconds_count{result=\"bounced\"}");
        var after = await Eventually.GetAsync(() => ScrapeAsync(http),
            m => Delta(before, m, "elemta_recipients_expired_total") >= 1 && Attempts(m) == Delta(before, m, "elemta_recipients_deferred_total") + 1,
            Timeout, "the recipient to expire");
        Assert.Equal(1, Delta(before, after, "elemta_recipients_expired_total"));
        Assert.Equal(1, Delta(before, after, "elemta_recipients_bounced_total"));
        Assert.Equal(1, Delta(before, after, "elemta_delivery_latency_seconds_count{result=\"bounced\"}"));
        Assert.Equal(0, Delta(before, after, "elemta_recipients_delivered_total"));
        // Every attempt before the last was deferred (one count each); the one past the lifetime turned the 450 into the expiry.
        Assert.True(Delta(before, after, "elemta_recipients_deferred_total") >= 1, "deferred before it expired");

        // The line is written just after the counters move, and the silo's output is read as it comes.
        static bool Expired(string l) => l.Contains(": to=<later@example.net>", StringComparison.Ordinal) && l.Contains("status=expired", StringComparison.Ordinal);
        await Eventually.GetAsync(() => Task.FromResult(silo.Output), o => o.Split('\n').Any(Expired), Timeout, "the expired delivery line");
        var line = Assert.Single(silo.Output.Split('\n'), Expired);
        Assert.Contains("dsn=4.4.7, status=expired (expired after ", line, StringComparison.Ordinal);
        Assert.Matches(DeliveryLine(), line);
    }

    [Fact]
    public async Task A_destination_rate_budget_refuses_a_delivery_start_and_the_throttle_counter_counts_it()
    {
        await using var sink = StartSink();
        using var data = new TempDirectory();
        // One new delivery per minute to any destination site, without adaptation.
        await using var silo = await StartSiloAsync(data, sink, new()
        {
            ["Elemta:Queue:Destinations:MessagesPerMinute"] = "1",
            ["Elemta:Queue:Destinations:Adaptive"] = "false",
        });
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };
        var before = await ScrapeAsync(http);

        // Three messages: the first start of a site is allowed and the next one a minute later, so at least one start
        // is refused. The queue names its site "domain:example.net" until it has looked up the route, then
        // "route:127.0.0.1:<port>" — two budgets at most, so three messages always meet a refusal. After a refusal the
        // queue waits out the budget's retry time (most of a minute) without asking again: exactly one.
        await SendNullSenderAsync(silo.SmtpPort, ["a@example.net"]);
        await SendNullSenderAsync(silo.SmtpPort, ["b@example.net"]);
        await SendNullSenderAsync(silo.SmtpPort, ["c@example.net"]);

        var after = await Eventually.GetAsync(() => ScrapeAsync(http),
            m => Delta(before, m, "elemta_destination_throttled_total") >= 1 && Delta(before, m, "elemta_recipients_delivered_total") >= 1,
            Timeout, "a delivery start to be throttled");
        Assert.Equal(1, Delta(before, after, "elemta_destination_throttled_total"));
        Assert.InRange(Delta(before, after, "elemta_recipients_delivered_total"), 1, 2);
        // Throttling is not a failure: nothing deferred, no circuit opened.
        Assert.Equal(0, Delta(before, after, "elemta_recipients_deferred_total"));
        Assert.Equal(0, after["elemta_destination_circuits_open"]);
        Assert.Equal(0, Delta(before, after, "elemta_destination_circuit_openings_total"));
    }

    [Fact]
    public async Task Per_client_rate_limits_count_a_refused_connection_and_an_AUTH_lockout()
    {
        await using var sink = StartSink();
        using var data = new TempDirectory();
        // Loopback is a trusted network, which skips the connection limits unless told otherwise.
        await using var silo = await StartSiloAsync(data, sink, new()
        {
            ["Elemta:Smtp:TrustedNetworksBypassConnectionLimits"] = "false",
            ["Elemta:Smtp:AllowPlaintextAuth"] = "true",
            ["Elemta:RateLimit:ConnectionsPerIp:Capacity"] = "2",
            ["Elemta:RateLimit:ConnectionsPerIp:PerSecond"] = "0",
            ["Elemta:RateLimit:AuthFailuresPerIp:Capacity"] = "1",
            ["Elemta:RateLimit:AuthFailuresPerIp:PerSecond"] = "0.001",
        });
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };
        var before = await ScrapeAsync(http);

        // Two connections are the whole budget of 127.0.0.1; the third is answered 421 before any greeting.
        using var first = new TcpClient();
        await first.ConnectAsync("127.0.0.1", silo.SmtpPort);
        var reader = new StreamReader(first.GetStream(), Encoding.ASCII);
        var writer = new StreamWriter(first.GetStream(), Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
        Assert.StartsWith("220 ", await ReadReplyAsync(reader), StringComparison.Ordinal);
        using (var second = new TcpClient())
        {
            await second.ConnectAsync("127.0.0.1", silo.SmtpPort);
            Assert.StartsWith("220 ", await ReadReplyAsync(new StreamReader(second.GetStream(), Encoding.ASCII)), StringComparison.Ordinal);
        }

        using (var third = new TcpClient())
        {
            await third.ConnectAsync("127.0.0.1", silo.SmtpPort);
            Assert.StartsWith("421 ", await ReadReplyAsync(new StreamReader(third.GetStream(), Encoding.ASCII)), StringComparison.Ordinal);
        }

        // One failed AUTH is the whole failure budget of the address: the next AUTH is refused before any check.
        await writer.WriteLineAsync("EHLO client.example.org");
        await ReadReplyAsync(reader);
        var wrong = "AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0nobody\0wrong"));
        await writer.WriteLineAsync(wrong);
        Assert.StartsWith("535 ", await ReadReplyAsync(reader), StringComparison.Ordinal);
        await writer.WriteLineAsync(wrong);
        Assert.StartsWith("454 4.7.0", await ReadReplyAsync(reader), StringComparison.Ordinal);
        await writer.WriteLineAsync("QUIT");
        Assert.StartsWith("221 ", await ReadReplyAsync(reader), StringComparison.Ordinal);

        var after = await Eventually.GetAsync(() => ScrapeAsync(http),
            m => m.GetValueOrDefault("elemta_smtp_connections_open", -1) == 0 && Delta(before, m, "elemta_smtp_connections_total") == 3
                 && Delta(before, m, "elemta_rate_limit_refusals_total{limit=\"auth_failures\"}") == 1,
            Timeout, "the connections to close and the lockout to be counted");
        // A refused connection still counts as accepted by the listener (3), and as refused by the rate (1).
        Assert.Equal(1, Delta(before, after, "elemta_rate_limit_refusals_total{limit=\"connections_per_address\"}"));
        Assert.Equal(1, Delta(before, after, "elemta_rate_limit_refusals_total{limit=\"auth_failures\"}"));
        Assert.Equal(1, Delta(before, after, "elemta_smtp_connections_refused_total{reason=\"rate_limited\"}"));
        Assert.Equal(0, Delta(before, after, "elemta_smtp_connections_refused_total{reason=\"too_many_from_address\"}"));
        Assert.Equal(1, Delta(before, after, "elemta_smtp_auth_attempts_total{mechanism=\"PLAIN\",result=\"failure\"}"));
        Assert.Equal(1, Delta(before, after, "elemta_smtp_auth_attempts_total{mechanism=\"PLAIN\",result=\"locked_out\"}"));
    }
}
