using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Elemta.Testing;
using Xunit.Abstractions;

namespace Elemta.Silo.Tests;

/// <summary>
/// <c>/metrics</c>, <c>/health/*</c> and the delivery log line of a real silo process; the Grafana dashboard and
/// alerting rules checked against a live scrape; a real Prometheus server scraping the silo.
/// </summary>
public sealed partial class ObservabilityTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    /// <summary>A silo routing example.net to <paramref name="sink"/>, retrying only after an hour, with queue gauges read every second.</summary>
    private static Task<SiloProcess> StartSiloAsync(TempDirectory data, SmtpSink sink, Dictionary<string, string>? more = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
            ["Elemta:Metrics:QueueInterval"] = "00:00:01",
        };
        foreach (var (key, value) in more ?? [])
        {
            settings[key] = value;
        }

        return SiloProcess.StartAsync(data.Path, settings);
    }

    /// <summary>A sink that refuses nobody@ with 550 and defers later@ with 450.</summary>
    private static SmtpSink StartSink()
    {
        var sink = SmtpSink.Start();
        sink.OnRecipient = rcpt => rcpt.StartsWith("nobody@", StringComparison.Ordinal) ? new SmtpSinkReply(550, "5.1.1 no such user")
            : rcpt.StartsWith("later@", StringComparison.Ordinal) ? new SmtpSinkReply(450, "4.2.1 mailbox busy")
            : null;
        return sink;
    }

    [Fact]
    public async Task Counters_move_by_the_right_amounts_when_mail_is_delivered_deferred_and_bounced()
    {
        await using var sink = StartSink();
        using var data = new TempDirectory();
        await using var silo = await StartSiloAsync(data, sink);
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };
        var before = await ScrapeAsync(http);

        // The null sender: no notices are queued for the bounce, so every count below is exact.
        await SendNullSenderAsync(silo.SmtpPort, ["bob@example.net", "nobody@example.net", "later@example.net"]);
        await SendNullSenderAsync(silo.SmtpPort, ["carol@example.net"]);

        var after = await Eventually.GetAsync(() => ScrapeAsync(http),
            m => Delta(before, m, "elemta_recipients_delivered_total") == 2 && Delta(before, m, "elemta_recipients_bounced_total") == 1
                 && Delta(before, m, "elemta_recipients_deferred_total") == 1,
            Timeout, "two delivered, one bounced, one deferred");
        output.WriteLine(string.Join('\n', after.Where(p => p.Key.StartsWith("elemta_", StringComparison.Ordinal)).Select(p => $"{p.Key} {p.Value}")));

        Assert.Equal(2, Delta(before, after, "elemta_messages_received_total"));
        Assert.Equal(2, Delta(before, after, "elemta_messages_queued_total"));
        Assert.Equal(0, Delta(before, after, "elemta_recipients_expired_total"));
        Assert.Equal(2, Delta(before, after, "elemta_smtp_connections_total"));
        Assert.Equal(2, Delta(before, after, "elemta_smtp_commands_total{command=\"MAIL\"}"));
        Assert.Equal(4, Delta(before, after, "elemta_smtp_commands_total{command=\"RCPT\"}"));
        Assert.Equal(2, Delta(before, after, "elemta_smtp_commands_total{command=\"DATA\"}"));
        Assert.Equal(2, Delta(before, after, "elemta_smtp_replies_total{class=\"3xx\"}"));
        Assert.Equal(0, Delta(before, after, "elemta_smtp_replies_total{class=\"5xx\"}"));
        Assert.Equal(0, after["elemta_smtp_connections_open"]);

        // Receipt-to-final latency: two delivered, one bounced; the deferred one is not final.
        Assert.Equal(2, Delta(before, after, "elemta_delivery_latency_seconds_count{result=\"delivered\"}"));
        Assert.Equal(1, Delta(before, after, "elemta_delivery_latency_seconds_count{result=\"bounced\"}"));
        // Attempts: the mixed one is deferred (a recipient is retried), the second delivered.
        Assert.Equal(1, Delta(before, after, "elemta_delivery_attempt_duration_seconds_count{result=\"deferred\"}"));
        Assert.Equal(1, Delta(before, after, "elemta_delivery_attempt_duration_seconds_count{result=\"delivered\"}"));
        // Two acceptances and two outcomes are at least four write batches, however they were grouped into commits.
        Assert.True(Delta(before, after, "elemta_store_commit_batch_size_sum") >= 4, "acceptances and outcomes are write batches");
        Assert.True(Delta(before, after, "elemta_store_commit_duration_seconds_count") >= 1, "at least one group commit");

        // The gauges come from the store's counters: one message still pending (deferred), in example.net.
        var gauges = await Eventually.GetAsync(() => ScrapeAsync(http),
            m => m.GetValueOrDefault("elemta_queue_messages{state=\"deferred\"}") == 1 && m.GetValueOrDefault("elemta_queue_messages{state=\"failed\"}") == 0,
            Timeout, "the queue gauges to show the deferred message");
        Assert.Equal(1, gauges["elemta_queue_messages{state=\"delivered\"}"]);
        Assert.Equal(1, gauges["elemta_queue_domain_messages{domain=\"example.net\"}"]);
        Assert.True(gauges["elemta_queue_oldest_age_seconds"] >= 0);
        Assert.True(gauges["elemta_store_body_size_bytes"] > 0);
        Assert.True(gauges["elemta_tls_certificate_not_after_seconds"] > DateTimeOffset.UtcNow.AddDays(300).ToUnixTimeSeconds(), "the self-signed certificate lasts a year");

        // One Postfix-shaped line per recipient and attempt.
        var lines = silo.Output.Split('\n').Where(l => l.Contains(": to=<", StringComparison.Ordinal)).ToArray();
        Assert.Equal(4, lines.Length);
        Assert.Single(lines, l => DeliveryLine().IsMatch(l) && l.Contains("to=<bob@example.net>, relay=127.0.0.1[127.0.0.1]:", StringComparison.Ordinal) && l.Contains("dsn=2.0.0, status=sent (250 ", StringComparison.Ordinal));
        Assert.Single(lines, l => DeliveryLine().IsMatch(l) && l.Contains("to=<nobody@example.net>", StringComparison.Ordinal) && l.Contains("dsn=5.1.1, status=bounced (550 5.1.1 no such user)", StringComparison.Ordinal));
        Assert.Single(lines, l => DeliveryLine().IsMatch(l) && l.Contains("to=<later@example.net>", StringComparison.Ordinal) && l.Contains("dsn=4.2.1, status=deferred (450 4.2.1 mailbox busy)", StringComparison.Ordinal));

        // delays=a/b/c/d, Postfix's four parts (before the queue, in it, connection setup, transmission), add up to
        // delay= within rounding: each is rounded to 0.01 s (0.1 s from 10 s), so 4 × 0.005 plus the total's 0.005.
        foreach (var line in lines)
        {
            output.WriteLine(line);
            var parts = DeliveryLine().Match(line).Groups;
            double Part(string name) => double.Parse(parts[name].Value, CultureInfo.InvariantCulture);
            var sum = Part("a") + Part("b") + Part("c") + Part("d");
            Assert.True(Math.Abs(sum - Part("delay")) <= 0.0251, $"the delays of '{line}' add up to {sum}");
        }
    }

    [Fact]
    public async Task Front_end_counters_count_a_refused_connection_a_failed_AUTH_and_a_STARTTLS_session()
    {
        await using var sink = StartSink();
        using var data = new TempDirectory();
        await using var silo = await StartSiloAsync(data, sink, new()
        {
            ["Elemta:Smtp:MaxConnections"] = "1",
            ["Elemta:Smtp:AllowPlaintextAuth"] = "true",
        });
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };
        var before = await ScrapeAsync(http);

        using var first = new TcpClient();
        await first.ConnectAsync("127.0.0.1", silo.SmtpPort);
        var reader = new StreamReader(first.GetStream(), Encoding.ASCII);
        var writer = new StreamWriter(first.GetStream(), Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
        Assert.StartsWith("220 ", await ReadReplyAsync(reader), StringComparison.Ordinal);

        // The only connection allowed is taken: the second is answered 421 before any greeting.
        using (var second = new TcpClient())
        {
            await second.ConnectAsync("127.0.0.1", silo.SmtpPort);
            Assert.StartsWith("421 ", await ReadReplyAsync(new StreamReader(second.GetStream(), Encoding.ASCII)), StringComparison.Ordinal);
        }

        await writer.WriteLineAsync("EHLO client.example.org");
        await ReadReplyAsync(reader);
        await writer.WriteLineAsync("AUTH PLAIN " + Convert.ToBase64String(Encoding.ASCII.GetBytes("\0nobody\0wrong")));
        Assert.StartsWith("535 ", await ReadReplyAsync(reader), StringComparison.Ordinal);
        await writer.WriteLineAsync("STARTTLS");
        Assert.StartsWith("220 ", await ReadReplyAsync(reader), StringComparison.Ordinal);
        await using (var tls = new System.Net.Security.SslStream(first.GetStream(), leaveInnerStreamOpen: true, (_, _, _, _) => true))
        {
            await tls.AuthenticateAsClientAsync("mx.elemta.test");
            var secureWriter = new StreamWriter(tls, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
            var secureReader = new StreamReader(tls, Encoding.ASCII);
            await secureWriter.WriteLineAsync("QUIT");
            Assert.StartsWith("221 ", await ReadReplyAsync(secureReader), StringComparison.Ordinal);
        }

        // The exporter may answer from its short scrape cache, whose copy from before the test also shows no open
        // connection: wait for a scrape that has seen both connections end.
        var after = await Eventually.GetAsync(() => ScrapeAsync(http),
            m => m.GetValueOrDefault("elemta_smtp_connections_open", -1) == 0 && Delta(before, m, "elemta_smtp_connections_total") == 2, Timeout, "the connections to close");
        Assert.Equal(1, Delta(before, after, "elemta_smtp_connections_refused_total{reason=\"too_many_connections\"}"));
        Assert.Equal(0, Delta(before, after, "elemta_smtp_connections_refused_total{reason=\"rate_limited\"}"));
        Assert.Equal(2, Delta(before, after, "elemta_smtp_connections_total"));
        Assert.Equal(1, Delta(before, after, "elemta_smtp_auth_attempts_total{mechanism=\"PLAIN\",result=\"failure\"}"));
        Assert.Equal(0, Delta(before, after, "elemta_smtp_auth_attempts_total{mechanism=\"PLAIN\",result=\"success\"}"));
        Assert.Equal(1, Delta(before, after, "elemta_smtp_tls_sessions_total{version=\"tls1.3\"}") + Delta(before, after, "elemta_smtp_tls_sessions_total{version=\"tls1.2\"}"));
        Assert.Equal(1, Delta(before, after, "elemta_smtp_commands_total{command=\"STARTTLS\"}"));
        // 421 (refused) is a 4xx; 535 a 5xx.
        Assert.Equal(1, Delta(before, after, "elemta_smtp_replies_total{class=\"4xx\"}"));
        Assert.Equal(1, Delta(before, after, "elemta_smtp_replies_total{class=\"5xx\"}"));
    }

    [Fact]
    public async Task A_destination_that_refuses_connections_opens_the_circuit_and_the_gauge_shows_it()
    {
        // Bound but not listening: every connection attempt is refused, a destination failure.
        using var held = RefusingEndPoint.Bind(System.Net.IPAddress.Loopback);
        await using var sink = StartSink();
        using var data = new TempDirectory();
        await using var silo = await StartSiloAsync(data, sink, new()
        {
            ["Elemta:Delivery:Routes:example.com"] = $"127.0.0.1:{RefusingEndPoint.PortOf(held)}",
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:01",
            ["Elemta:Queue:CircuitBreakerThreshold"] = "2",
        });
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };
        await SendNullSenderAsync(silo.SmtpPort, ["bob@example.com"]);

        // The circuit opens as the second failure is seen, just before that attempt's outcome (and its deferral) is
        // recorded: wait for a scrape that has both.
        var after = await Eventually.GetAsync(() => ScrapeAsync(http),
            m => m.GetValueOrDefault("elemta_destination_circuits_open") == 1 && m.GetValueOrDefault("elemta_recipients_deferred_total") >= 2, Timeout, "the circuit to open");
        Assert.Equal(1, after["elemta_destination_circuit_openings_total"]);
        Assert.Equal(0, after["elemta_recipients_delivered_total"]);
    }

    private static async Task<string> ReadReplyAsync(StreamReader reader)
    {
        string line;
        do
        {
            line = await reader.ReadLineAsync() ?? throw new IOException("connection closed");
        }
        while (line.Length > 3 && line[3] == '-');
        return line;
    }

    [Fact]
    public async Task Health_is_live_and_ready_then_not_ready_while_postgres_is_down_and_ready_again_after()
    {
        var server = await PostgresServer.StartOwnAsync();
        var connectionString = await server.CreateDatabaseAsync("health");
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Storage:Provider"] = "PostgreSQL",
            ["Elemta:Storage:ConnectionString"] = connectionString,
            ["Elemta:Storage:Postgres:TransientRetries"] = "1",
            ["Elemta:Cluster:ClusterId"] = "health-" + Guid.NewGuid().ToString("N")[..8],
            ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
        });
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };

        var ready = await http.GetAsync(new Uri("/health/ready", UriKind.Relative));
        var body = await ready.Content.ReadAsStringAsync();
        Assert.True(ready.IsSuccessStatusCode, body);
        Assert.Contains("database: Healthy (PostgreSQL answers)", body, StringComparison.Ordinal);
        Assert.Contains("silo: Healthy", body, StringComparison.Ordinal);
        Assert.Contains($"smtp: Healthy (SMTP listening on 127.0.0.1:{silo.SmtpPort})", body, StringComparison.Ordinal);

        await server.StopServerAsync();
        var notReady = await Eventually.GetAsync(() => http.GetAsync(new Uri("/health/ready", UriKind.Relative)),
            r => r.StatusCode == System.Net.HttpStatusCode.ServiceUnavailable, Timeout, "/health/ready to answer 503");
        Assert.Contains("database: Unhealthy (PostgreSQL does not answer", await notReady.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        // Live says only that the process answers: a restart would not bring the database back.
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);
        var metrics = await ScrapeAsync(http);
        Assert.True(metrics["elemta_store_errors_total{operation=\"health\"}"] >= 1);

        await server.StartServerAsync();
        await Eventually.GetAsync(() => http.GetAsync(new Uri("/health/ready", UriKind.Relative)),
            r => r.IsSuccessStatusCode, Timeout, "/health/ready to answer 200 again");
    }

    [Fact]
    public async Task Json_logs_carry_the_delivery_fields_and_the_session_and_attempt_scopes()
    {
        await using var sink = StartSink();
        using var data = new TempDirectory();
        await using var silo = await StartSiloAsync(data, sink, new() { ["Elemta:Logging:Format"] = "Json" });
        await SendNullSenderAsync(silo.SmtpPort, ["bob@example.net"]);
        await sink.WaitForMessageAsync(_ => true, Timeout);

        JsonElement Find(Func<JsonElement, bool> match, string what) => Eventually.GetAsync(
            () => Task.FromResult(silo.Output.Split('\n').Where(l => l.StartsWith('{')).Select(l => JsonDocument.Parse(l).RootElement).FirstOrDefault(match)),
            e => e.ValueKind == JsonValueKind.Object, Timeout, what).GetAwaiter().GetResult();

        var delivery = Find(e => e.GetProperty("EventId").GetInt32() == 13001, "the delivery line");
        var state = delivery.GetProperty("State");
        Assert.Equal("bob@example.net", state.GetProperty("Recipient").GetString());
        Assert.Equal("sent", state.GetProperty("Status").GetString());
        Assert.Equal("2.0.0", state.GetProperty("Dsn").GetString());
        var queueId = state.GetProperty("QueueId").GetString()!;
        Assert.Matches("^[0-9a-f]{32}$", queueId);
        Assert.Contains(delivery.GetProperty("Scopes").EnumerateArray(), scope => scope.TryGetProperty("QueueId", out var id) && id.GetString() == queueId);

        // The session's lines carry its id and the client's address; its "Queued" line names the same queue id.
        var queued = Find(e => e.GetProperty("Message").GetString()!.StartsWith($"Queued {queueId} ", StringComparison.Ordinal), "the Queued line");
        var session = queued.GetProperty("Scopes").EnumerateArray().Single(scope => scope.ValueKind == JsonValueKind.Object && scope.TryGetProperty("SessionId", out _));
        Assert.Equal("127.0.0.1", session.GetProperty("Client").GetString());
    }

    [Fact]
    public async Task Traces_go_to_the_configured_OTLP_endpoint_in_one_trace_from_the_session_to_the_delivery_attempt()
    {
        await using var receiver = OtlpReceiver.Start();
        await using var sink = StartSink();
        using var data = new TempDirectory();
        await using var silo = await StartSiloAsync(data, sink, new()
        {
            ["Elemta:Tracing:OtlpEndpoint"] = receiver.Endpoint,
            ["Elemta:Tracing:OtlpProtocol"] = "HttpProtobuf",
        });
        await SendNullSenderAsync(silo.SmtpPort, ["bob@example.net"]);
        await sink.WaitForMessageAsync(_ => true, Timeout);

        // One trace from the SMTP session to the delivery attempt: the attempt's parent chain, through the grain
        // calls of the acceptance (Orleans' spans), leads to smtp.accept and on to smtp.session, the trace's root.
        // The exporter sends in batches, so wait until every span of the chain has arrived.
        var all = await Eventually.GetAsync(() => Task.FromResult(receiver.Spans()),
            s => s.Any(span => span.Name == "delivery.attempt" && OtlpReceiver.ChainOf(s, span)[^1].Name == "smtp.session"),
            Timeout, "the delivery attempt's parent chain to reach the session");
        var session = all.Single(span => span.Name == "smtp.session");
        var accept = all.Single(span => span.Name == "smtp.accept");
        var attempt = all.Single(span => span.Name == "delivery.attempt");
        var chain = OtlpReceiver.ChainOf(all, attempt);
        Assert.All(receiver.Paths(), path => Assert.Equal("/v1/traces", path));
        output.WriteLine(string.Join(" <- ", chain.Select(span => span.Name)));
        Assert.Equal(session.TraceId, accept.TraceId);
        Assert.Equal(session.TraceId, attempt.TraceId);
        Assert.Null(session.ParentSpanId);
        Assert.Same(session, chain[^1]);
        // Its direct parent is the message grain's acceptance call, whose traceparent the grain kept for it.
        Assert.Equal("IMessageGrain/AcceptAsync", chain[1].Name);
        Assert.Contains(accept, chain);
        Assert.Equal(accept.ParentSpanId, session.SpanId);
        var messageId = MessageIdInSpan().Match(accept.Raw).Value;
        Assert.Matches("^[0-9a-f]{32}$", messageId);
        Assert.Contains(messageId, attempt.Raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Metrics_can_require_credentials_while_health_stays_open()
    {
        await using var sink = StartSink();
        using var data = new TempDirectory();
        await using var silo = await StartSiloAsync(data, sink, new() { ["Elemta:Metrics:RequireAuthentication"] = "true" });
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };
        Assert.Equal(System.Net.HttpStatusCode.Unauthorized, (await http.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);
        Assert.Equal(System.Net.HttpStatusCode.OK, (await http.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);

        // The initial account is created once the silo has started, possibly just after HTTP listens.
        var passwordFile = Path.Combine(silo.DataDirectory, "initial-admin-password");
        await Eventually.GetAsync(() => Task.FromResult(File.Exists(passwordFile) && new FileInfo(passwordFile).Length > 0), x => x, Timeout, "the initial admin password");
        var password = (await File.ReadAllTextAsync(passwordFile)).Trim();
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri("/metrics", UriKind.Relative));
        request.Headers.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{password}")));
        var response = await http.SendAsync(request);
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("elemta_smtp_connections_total", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Prometheus_scrapes_the_silo_and_PromQL_returns_the_delivered_count_and_the_dashboard_and_rules_name_only_exported_metrics()
    {
        await using var sink = StartSink();
        using var data = new TempDirectory();
        await using var silo = await StartSiloAsync(data, sink);
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };
        // later@ stays deferred, so the per-domain gauge has a series too.
        await SendNullSenderAsync(silo.SmtpPort, ["bob@example.net", "carol@example.net", "dave@example.net", "nobody@example.net", "later@example.net"]);
        var scrape = await Eventually.GetAsync(() => ScrapeAsync(http),
            m => m.GetValueOrDefault("elemta_recipients_delivered_total") == 3 && m.ContainsKey("elemta_queue_domain_messages{domain=\"example.net\"}"),
            Timeout, "three delivered and the domain gauge");

        // Every metric name in the dashboard and the rules is one the silo exports.
        var exported = scrape.Keys.Select(k => k.Split('{')[0]).ToHashSet(StringComparer.Ordinal);
        exported.Add("up"); // Prometheus' own, per target
        var root = RepositoryRoot();
        var dashboard = JsonDocument.Parse(await File.ReadAllTextAsync(Path.Combine(root, "deploy/grafana/elemta.json")));
        var dashboardNames = MetricNames(Expressions(dashboard.RootElement));
        var rulesNames = MetricNames([await File.ReadAllTextAsync(Path.Combine(root, "deploy/prometheus/rules/elemta-alerts.yml"))]);
        Assert.NotEmpty(dashboardNames);
        Assert.Empty(dashboardNames.Except(exported));
        Assert.Empty(rulesNames.Except(exported));

        // A real Prometheus server scrapes the silo every second; PromQL over its HTTP API sees the delivered count.
        var promPort = FreePort.GetTcpPort();
        using var promData = new TempDirectory();
        var config = Path.Combine(promData.Path, "prometheus.yml");
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
            rule_files:
              - {Path.Combine(root, "deploy/prometheus/rules/elemta-alerts.yml")}
            scrape_configs:
              - job_name: elemta
                static_configs:
                  - targets: ["127.0.0.1:{silo.HttpPort}"]
            """);
        using var prometheus = Process.Start(new ProcessStartInfo("/usr/bin/prometheus")
        {
            ArgumentList =
            {
                $"--config.file={config}", $"--storage.tsdb.path={Path.Combine(promData.Path, "tsdb")}",
                $"--web.listen-address=127.0.0.1:{promPort}", "--log.level=warn",
            },
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        })!;
        var promLog = new StringBuilder();
        prometheus.OutputDataReceived += (_, e) => { lock (promLog) { promLog.AppendLine(e.Data); } };
        prometheus.ErrorDataReceived += (_, e) => { lock (promLog) { promLog.AppendLine(e.Data); } };
        prometheus.BeginOutputReadLine();
        prometheus.BeginErrorReadLine();
        try
        {
            using var api = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{promPort}") };
            var delivered = await Eventually.GetAsync(() => QueryAsync(api, "sum(elemta_recipients_delivered_total{job=\"elemta\"})"),
                v => v == 3, Timeout, "PromQL to return 3 delivered");
            Assert.Equal(3, delivered);
            Assert.Equal(1, await QueryAsync(api, "sum(elemta_recipients_bounced_total)"));
            Assert.Equal(1, await QueryAsync(api, "up{job=\"elemta\"}"));
        }
        finally
        {
            prometheus.Kill();
            await prometheus.WaitForExitAsync();
            output.WriteLine(promLog.ToString());
        }
    }

    /// <summary>The value of an instant PromQL query with one result; null until it has one.</summary>
    private static async Task<double?> QueryAsync(HttpClient api, string query)
    {
        try
        {
            var json = await api.GetFromJsonAsync<JsonElement>(new Uri($"/api/v1/query?query={Uri.EscapeDataString(query)}", UriKind.Relative));
            var result = json.GetProperty("data").GetProperty("result");
            return result.GetArrayLength() == 1 ? double.Parse(result[0].GetProperty("value")[1].GetString()!, CultureInfo.InvariantCulture) : null;
        }
        catch (HttpRequestException)
        {
            return null; // not listening yet
        }
    }

    /// <summary>Every <c>expr</c> in the dashboard, panels within rows included.</summary>
    private static List<string> Expressions(JsonElement element)
    {
        var found = new List<string>();
        void Walk(JsonElement e)
        {
            if (e.ValueKind == JsonValueKind.Object)
            {
                foreach (var p in e.EnumerateObject())
                {
                    if (p.Name == "expr" && p.Value.ValueKind == JsonValueKind.String)
                    {
                        found.Add(p.Value.GetString()!);
                    }
                    else
                    {
                        Walk(p.Value);
                    }
                }
            }
            else if (e.ValueKind == JsonValueKind.Array)
            {
                foreach (var item in e.EnumerateArray())
                {
                    Walk(item);
                }
            }
        }

        Walk(element);
        return found;
    }

    /// <summary>The metric names in PromQL text: Elemta's, Orleans' and .NET's (recording rules have a colon and are skipped).</summary>
    private static HashSet<string> MetricNames(IEnumerable<string> texts) =>
        [.. texts.SelectMany(t => MetricName().Matches(t).Select(m => m.Value))];

    [GeneratedRegex("[0-9a-f]{32}")]
    private static partial Regex MessageIdInSpan();

    [GeneratedRegex(@"(?<![\w:])(elemta|orleans|dotnet)_[a-z0-9_]+(?![\w:])")]
    private static partial Regex MetricName();

    [GeneratedRegex(@"[0-9a-f]{32}: to=<[^>]+>, relay=\S+, delay=(?<delay>[0-9.]+), delays=(?<a>[0-9.]+)/(?<b>[0-9.]+)/(?<c>[0-9.]+)/(?<d>[0-9.]+), tls=[^,]+, dsn=[245]\.[0-9]+\.[0-9]+, status=(sent|deferred|bounced|expired) \(")]
    private static partial Regex DeliveryLine();

    private static string RepositoryRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "Elemta.sln")))
        {
            dir = Path.GetDirectoryName(dir) ?? throw new InvalidOperationException("Elemta.sln not found above the test assembly");
        }

        return dir;
    }

    private static double Delta(Dictionary<string, double> before, Dictionary<string, double> after, string series) =>
        after.GetValueOrDefault(series) - before.GetValueOrDefault(series);

    /// <summary>Scrapes <c>/metrics</c>: series (name with labels as exported, without an empty <c>{}</c>) to value.</summary>
    internal static async Task<Dictionary<string, double>> ScrapeAsync(HttpClient http)
    {
        var text = await http.GetStringAsync(new Uri("/metrics", UriKind.Relative));
        var series = new Dictionary<string, double>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            // name{labels} value [timestamp]; label values here never hold a space.
            var parts = line.Split(' ');
            var name = parts[0].EndsWith("{}", StringComparison.Ordinal) ? parts[0][..^2] : parts[0];
            series[name] = double.Parse(parts[1], CultureInfo.InvariantCulture);
        }

        return series;
    }

    /// <summary>Sends one message from the null sender (no notices come back) over plain SMTP.</summary>
    private static async Task SendNullSenderAsync(int port, string[] recipients)
    {
        using var client = new TcpClient();
        await client.ConnectAsync("127.0.0.1", port);
        var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        await using var writer = new StreamWriter(stream, Encoding.ASCII) { NewLine = "\r\n", AutoFlush = true };
        async Task<string> ReplyAsync()
        {
            string line;
            do
            {
                line = await reader.ReadLineAsync() ?? throw new IOException("connection closed");
            }
            while (line.Length > 3 && line[3] == '-');
            return line;
        }

        async Task ExpectAsync(string command, char first)
        {
            if (command.Length > 0)
            {
                await writer.WriteLineAsync(command);
            }

            var reply = await ReplyAsync();
            Assert.True(reply[0] == first, $"{command}: {reply}");
        }

        await ExpectAsync(string.Empty, '2');
        await ExpectAsync("EHLO client.example.org", '2');
        await ExpectAsync("MAIL FROM:<>", '2');
        foreach (var recipient in recipients)
        {
            await ExpectAsync($"RCPT TO:<{recipient}>", '2');
        }

        await ExpectAsync("DATA", '3');
        await writer.WriteAsync("From: <mailer-daemon@example.org>\r\nTo: <bob@example.net>\r\nSubject: observability\r\nMessage-ID: <" + Guid.NewGuid().ToString("N") + "@example.org>\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nHello\r\n");
        await ExpectAsync(".", '2');
        await ExpectAsync("QUIT", '2');
    }
}
