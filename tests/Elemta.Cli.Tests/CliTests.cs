using System.Text;
using System.Text.Json;
using Elemta.Silo.Tests;
using Elemta.Testing;

namespace Elemta.Cli.Tests;

/// <summary>Every <c>elemta</c> command end to end: parse, a real silo (gateway or REST API), output and exit code.</summary>
[Collection(ClusterCollection.Name)]
public sealed class CliTests(ClusterFixture cluster)
{
    private static string Message(string subject, string to = "rcpt@example.net", string? bcc = null) =>
        $"From: Alice <alice@example.org>\nTo: {to}\n{(bcc is null ? string.Empty : $"Bcc: {bcc}\n")}Subject: {subject}\n\nHello from the CLI tests.\n";

    private async Task<string> SendAsync(string subject, params string[] extra)
    {
        var sent = await cluster.CliAsync(Message(subject), ["send", "--json", .. extra]);
        return sent.Json().GetProperty("messageId").GetString()!;
    }

    [Fact]
    public async Task Send_then_queue_stats_list_show_hold_release_retry_delete_with_json_and_exit_codes()
    {
        var id = await SendAsync("queue commands");

        // The sink defers: the message waits in deferred (or active while its first attempt runs).
        var listed = await ClusterFixture.EventuallyAsync(
            async () => (await cluster.CliAsync(null, "queue", "list", "deferred", "--json", "--limit", "0")).Json(),
            json => json.EnumerateArray().Any(m => m.GetProperty("messageId").GetString() == id), "the message listed as deferred");
        var entry = listed.EnumerateArray().Single(m => m.GetProperty("messageId").GetString() == id);
        Assert.Equal("alice@example.org", entry.GetProperty("sender").GetString());
        Assert.Equal(1, entry.GetProperty("recipients").GetInt32());
        Assert.Equal("normal", entry.GetProperty("priority").GetString());

        // Filters: by sender and by domain.
        Assert.Empty((await cluster.CliAsync(null, "queue", "list", "deferred", "--sender", "nobody@example.org", "--json")).Json().EnumerateArray());
        Assert.Contains((await cluster.CliAsync(null, "queue", "list", "deferred", "--domain", "example.net", "--json", "--limit", "0")).Json().EnumerateArray(), m => m.GetProperty("messageId").GetString() == id);

        var stats = (await cluster.CliAsync(null, "queue", "stats", "--json")).Json();
        Assert.True(stats.GetProperty("messages").GetProperty("deferred").GetInt64() >= 1);
        Assert.Contains(stats.GetProperty("topDomains").EnumerateArray(), d => d.GetProperty("domain").GetString() == "example.net");

        var show = (await cluster.CliAsync(null, "queue", "show", id, "--json")).Json();
        Assert.Equal(id, show.GetProperty("id").GetString());
        Assert.Equal("rcpt@example.net", show.GetProperty("recipients")[0].GetProperty("address").GetString());
        Assert.Contains("4.3.0 try again later", show.GetProperty("recipients")[0].GetProperty("lastReply").GetString(), StringComparison.Ordinal);
        Assert.NotEmpty(show.GetProperty("attempts").EnumerateArray());
        Assert.False(string.IsNullOrEmpty(show.GetProperty("summary").GetString()));

        // The human form: an aligned table with a header.
        var table = await cluster.CliAsync(null, "queue", "list", "deferred", "--limit", "0");
        Assert.Equal(0, table.ExitCode);
        Assert.Matches(@"(?m)^ID\s+STATE\s+PRIORITY\s+SENDER\s+RCPTS\s+SIZE\s+RECEIVED\s+UPDATED", table.Output);
        Assert.Matches($@"(?m)^{id}\s+deferred\s+normal\s+alice@example\.org\s+1\s", table.Output);

        var raw = await cluster.CliAsync(null, "queue", "raw", id);
        Assert.Equal(0, raw.ExitCode);
        Assert.Contains("Subject: queue commands\r\n", raw.Output, StringComparison.Ordinal);

        var held = (await cluster.CliAsync(null, "queue", "hold", id, "--json")).Json();
        Assert.Equal(1, held.GetProperty("messages").GetInt64());
        Assert.Contains((await cluster.CliAsync(null, "queue", "list", "hold", "--json", "--limit", "0")).Json().EnumerateArray(), m => m.GetProperty("messageId").GetString() == id);
        Assert.Equal(0, (await cluster.CliAsync(null, "queue", "release", id)).ExitCode);
        var retried = await cluster.CliAsync(null, "queue", "retry", id);
        Assert.Equal(0, retried.ExitCode);
        Assert.StartsWith($"retried message {id}", retried.Output, StringComparison.Ordinal);

        Assert.Equal(0, (await cluster.CliAsync(null, "queue", "delete", id)).ExitCode);
        var gone = await cluster.CliAsync(null, "queue", "show", id);
        Assert.Equal((3, $"elemta: no message {id}"), (gone.ExitCode, gone.Error.Trim()));
        gone = await cluster.CliAsync(null, "queue", "hold", id);
        Assert.Equal(3, gone.ExitCode);
        Assert.Equal(3, (await cluster.CliAsync(null, "queue", "raw", id)).ExitCode);
    }

    [Fact]
    public async Task Domain_list_show_hold_release_retry_and_queue_flush_and_purge()
    {
        var id = await SendAsync("domain commands", "--to", "someone@example.net");
        var domains = await ClusterFixture.EventuallyAsync(
            async () => (await cluster.CliAsync(null, "domain", "list", "--json")).Json(),
            json => json.EnumerateArray().Any(d => d.GetProperty("domain").GetString() == "example.net"), "example.net listed");
        Assert.True(domains.EnumerateArray().First(d => d.GetProperty("domain").GetString() == "example.net").GetProperty("queued").GetInt64() >= 1);

        var show = (await cluster.CliAsync(null, "domain", "show", "example.net", "--json")).Json();
        Assert.Equal("example.net", show.GetProperty("domain").GetString());
        Assert.False(string.IsNullOrEmpty(show.GetProperty("summary").GetString()));
        Assert.Contains("Circuit", (await cluster.CliAsync(null, "domain", "show", "example.net")).Output, StringComparison.Ordinal);

        Assert.True((await cluster.CliAsync(null, "domain", "hold", "example.net", "--json")).Json().GetProperty("entries").GetInt64() >= 1);
        Assert.Contains((await cluster.CliAsync(null, "queue", "list", "hold", "--json", "--limit", "0")).Json().EnumerateArray(), m => m.GetProperty("messageId").GetString() == id);
        Assert.Equal(0, (await cluster.CliAsync(null, "domain", "release", "example.net")).ExitCode);
        Assert.Equal(0, (await cluster.CliAsync(null, "domain", "retry", "example.net")).ExitCode);

        var flushed = await cluster.CliAsync(null, "queue", "flush", "deferred", "--json");
        Assert.Equal(0, flushed.ExitCode);
        Assert.True(flushed.Json().TryGetProperty("messages", out _));
        var finished = await cluster.CliAsync(null, "queue", "flush", "delivered");
        Assert.Equal((2, "elemta: delivered messages are finished: there is nothing to flush"), (finished.ExitCode, finished.Error.Trim()));

        // Purge asks for --yes; with it, the held messages are gone.
        Assert.Equal(0, (await cluster.CliAsync(null, "queue", "hold", id)).ExitCode);
        var refused = await cluster.CliAsync(null, "queue", "purge", "hold");
        Assert.Equal(2, refused.ExitCode);
        Assert.Contains("--yes", refused.Error, StringComparison.Ordinal);
        var purged = (await cluster.CliAsync(null, "queue", "purge", "hold", "--yes", "--json")).Json();
        Assert.True(purged.GetProperty("messages").GetInt64() >= 1);
        Assert.Equal(3, (await cluster.CliAsync(null, "queue", "show", id)).ExitCode);
    }

    [Fact]
    public async Task User_and_apikey_commands_and_the_rest_api_mode_with_a_key_an_account_and_bad_credentials()
    {
        var added = (await cluster.CliAsync("a long passphrase", "user", "add", "Ops@Example.org", "--role", "operator", "--password-stdin", "--json")).Json();
        Assert.Equal("ops@example.org", added.GetProperty("name").GetString());
        Assert.Equal(JsonValueKind.Null, added.GetProperty("password").ValueKind);
        var users = (await cluster.CliAsync(null, "user", "list", "--json")).Json();
        Assert.Contains(users.EnumerateArray(), u => u.GetProperty("name").GetString() == "ops@example.org" && u.GetProperty("roles")[0].GetString() == "operator");
        Assert.Equal(0, (await cluster.CliAsync(null, "user", "set", "ops@example.org", "--role", "viewer", "--sender", "@example.org")).ExitCode);
        var changed = (await cluster.CliAsync(null, "user", "passwd", "ops@example.org", "--json")).Json();
        Assert.False(string.IsNullOrEmpty(changed.GetProperty("password").GetString()));

        var created = (await cluster.CliAsync(null, "apikey", "create", "--role", "admin", "--name", "cli-tests", "--json")).Json();
        var key = created.GetProperty("key").GetString()!;
        var keyId = created.GetProperty("apiKey").GetProperty("id").GetString()!;
        Assert.Equal("active", created.GetProperty("apiKey").GetProperty("state").GetString());

        // The same commands through the REST API, with the key, then with an account.
        var url = cluster.Silo.HttpUrl.ToString();
        var viaKey = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "user", "list", "--json", "--url", url, "--api-key", key], null, null);
        Assert.Contains(viaKey.Json().EnumerateArray(), u => u.GetProperty("name").GetString() == "ops@example.org");
        var env = new Dictionary<string, string> { ["ELEMTA_URL"] = url, ["ELEMTA_USER"] = "admin", ["ELEMTA_PASSWORD"] = cluster.AdminPassword };
        var stats = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "queue", "stats", "--json"], null, env);
        Assert.True(stats.Json().GetProperty("messages").TryGetProperty("deferred", out _));
        var silos = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "cluster", "status", "--json"], null, env);
        Assert.Equal("Active", silos.Json()[0].GetProperty("status").GetString());

        // Wrong credentials: exit 5; nothing listening: exit 4; both one line on stderr.
        var wrong = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "queue", "stats", "--url", url, "--api-key", "elemta_nope_nope"], null, null);
        Assert.Equal(5, wrong.ExitCode);
        Assert.Single(wrong.Error.Trim().Split('\n'));
        var nowhere = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "queue", "stats", "--url", $"http://127.0.0.1:{FreePort.GetTcpPort()}", "--api-key", key], null, null);
        Assert.Equal(4, nowhere.ExitCode);
        Assert.StartsWith("elemta: cannot reach http://127.0.0.1:", nowhere.Error, StringComparison.Ordinal);

        // Revoked keys stop working; a second revoke is a conflict; an unknown user is not found.
        Assert.Equal(0, (await cluster.CliAsync(null, "apikey", "revoke", keyId)).ExitCode);
        Assert.Equal(6, (await cluster.CliAsync(null, "apikey", "revoke", keyId)).ExitCode);
        Assert.Contains((await cluster.CliAsync(null, "apikey", "list", "--json")).Json().EnumerateArray(), k => k.GetProperty("id").GetString() == keyId && k.GetProperty("state").GetString() == "revoked");
        Assert.Equal(5, (await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "queue", "stats", "--url", url, "--api-key", key], null, null)).ExitCode);
        Assert.Equal(0, (await cluster.CliAsync(null, "user", "del", "ops@example.org")).ExitCode);
        Assert.Equal(3, (await cluster.CliAsync(null, "user", "del", "ops@example.org")).ExitCode);
    }

    [Fact]
    public async Task Send_with_url_submits_through_the_rest_api_with_an_operator_key_and_the_message_is_delivered()
    {
        var url = cluster.Silo.HttpUrl.ToString();
        var operatorKey = (await cluster.CliAsync(null, "apikey", "create", "--role", "operator", "--name", "cli-send", "--json")).Json().GetProperty("key").GetString()!;
        var viewerKey = (await cluster.CliAsync(null, "apikey", "create", "--role", "viewer", "--name", "cli-send-viewer", "--json")).Json().GetProperty("key").GetString()!;
        var subject = $"sent over http {Guid.NewGuid():N}";

        var sent = await ClusterFixture.RunAsync("dotnet",
            [SiloProcess.SiloAssembly, "send", "--url", url, "--api-key", operatorKey, "--json", "--priority", "high", "--from", "cli@example.org"],
            Message(subject, to: "rcpt@example.com", bcc: "hidden@example.com"), null);
        var json = sent.Json();
        var id = json.GetProperty("messageId").GetString()!;
        Assert.Matches("^[0-9a-f]{32}$", id);
        Assert.Equal("cli@example.org", json.GetProperty("sender").GetString());
        Assert.Equal(new[] { "rcpt@example.com", "hidden@example.com" }, json.GetProperty("recipients").EnumerateArray().Select(r => r.GetString()));

        // Visible through the REST API at once (stored before the answer), with its priority; delivered to the sink without Bcc.
        var show = (await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "queue", "show", id, "--json", "--url", url, "--api-key", viewerKey], null, null)).Json();
        Assert.Equal("high", show.GetProperty("envelope").GetProperty("priority").GetString());
        Assert.Equal("rest-api", show.GetProperty("envelope").GetProperty("heloName").GetString());
        var delivered = await ClusterFixture.EventuallyAsync(
            () => Task.FromResult(cluster.Accepting.Messages.FirstOrDefault(m => Encoding.UTF8.GetString(m.Data).Contains(subject, StringComparison.Ordinal))),
            m => m is not null, "the message sent with --url at the sink");
        Assert.Equal(new[] { "hidden@example.com", "rcpt@example.com" }, delivered!.Recipients.Order(StringComparer.Ordinal));
        Assert.DoesNotContain("Bcc:", Encoding.UTF8.GetString(delivered.Data), StringComparison.Ordinal);

        // The human form, through ELEMTA_URL and ELEMTA_API_KEY.
        var env = new Dictionary<string, string> { ["ELEMTA_URL"] = url, ["ELEMTA_API_KEY"] = operatorKey };
        var human = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "send", "--to", "rcpt@example.com"], Message("human"), env);
        Assert.Equal(0, human.ExitCode);
        Assert.Matches("^queued as [0-9a-f]{32}$", human.Output.Trim());

        // A viewer may not submit (exit 5); a malformed recipient is refused by the API (exit 2); each one line on stderr.
        var forbidden = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "send", "--url", url, "--api-key", viewerKey], Message("viewer"), null);
        Assert.Equal(5, forbidden.ExitCode);
        Assert.Single(forbidden.Error.Trim().Split('\n'));
        var malformed = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "send", "--url", url, "--api-key", operatorKey, "--to", "nobody"], Message("malformed"), null);
        Assert.Equal(2, malformed.ExitCode);
        Assert.StartsWith("elemta: 400: to 'nobody' is not an address", malformed.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Cluster_status_lists_the_active_silo()
    {
        var result = await cluster.CliAsync(null, "cluster", "status");
        Assert.Equal(0, result.ExitCode);
        Assert.Matches(@"(?m)^\S+@\d+\s+\S+\s+\S+\s+Active\s", result.Output);
    }

    [Theory]
    [InlineData(new[] { "queue", "list", "bogus" }, "elemta: Argument 'bogus' not recognized.")]
    [InlineData(new[] { "queue", "frobnicate" }, "elemta: unexpected 'frobnicate'")]
    [InlineData(new[] { "queue", "show" }, "elemta: Required argument missing for command: 'show'.")]
    [InlineData(new[] { "user", "add", "bad name" }, "elemta: ")]
    [InlineData(new[] { "queue", "stats", "--url", "ftp://x" }, "elemta: --url: 'ftp://x' is not an http:// or https:// URL")]
    public async Task Usage_errors_are_one_line_with_exit_code_2(string[] arguments, string start)
    {
        var result = await cluster.CliAsync(null, arguments);
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith(start, result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_command_has_help()
    {
        foreach (var command in new[] { "queue", "queue list", "domain", "user add", "apikey create", "db migrate", "db status", "send", "cluster status", "server", "web" })
        {
            var result = await cluster.CliAsync(null, [.. command.Split(' '), "--help"]);
            Assert.True(result.ExitCode == 0, $"{command}: {result.Error}");
            Assert.Contains("Usage:", result.Output, StringComparison.Ordinal);
        }

        var sendmail = await cluster.CliAsync(null, "sendmail", "--help");
        Assert.Equal(0, sendmail.ExitCode);
        Assert.Contains("-t", sendmail.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Completion_suggests_commands_through_the_suggest_directive()
    {
        // What dotnet-suggest sends: the cursor position and the whole line.
        var result = await cluster.CliAsync(null, "[suggest:7]", "queue f");
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("flush", result.Output.Split('\n').Select(l => l.Trim()));
    }

    [Fact]
    public async Task Sendmail_t_delivers_to_the_sink_with_bcc_recipients_and_without_the_bcc_field()
    {
        var subject = $"sendmail -t {Guid.NewGuid():N}";
        var message = $"To: one@example.com\nBcc: hidden@example.com\nSubject: {subject}\n\nline one\n.\nline after a lone dot\n";
        var result = await cluster.CliAsync(message, "sendmail", "-t", "-oi", "-odi", "-oem", "-f", "cron@example.org", "-F", "Cron Daemon", "extra@example.com");
        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(string.Empty, result.Output + result.Error);

        var received = await cluster.Accepting.WaitForMessageAsync(m => Encoding.ASCII.GetString(m.Data).Contains(subject, StringComparison.Ordinal), ClusterFixture.Timeout);
        Assert.Equal("cron@example.org", received.MailFrom);
        Assert.Equal(["extra@example.com", "hidden@example.com", "one@example.com"], received.Recipients.Order().ToArray());
        var text = Encoding.ASCII.GetString(received.Data);
        Assert.DoesNotContain("Bcc:", text, StringComparison.OrdinalIgnoreCase);
        Assert.Contains("\r\nFrom: Cron Daemon <cron@example.org>\r\n", text, StringComparison.Ordinal);
        Assert.Contains("\r\nDate: ", text, StringComparison.Ordinal);
        Assert.Contains("\r\nMessage-ID: <", text, StringComparison.Ordinal);
        Assert.Contains("line one\r\n.\r\nline after a lone dot\r\n", text, StringComparison.Ordinal); // -oi: a lone dot is content
    }

    [Fact]
    public async Task Sendmail_through_a_link_named_sendmail_and_without_i_a_lone_dot_ends_the_message()
    {
        using var dir = new TempDirectory();
        var link = Path.Combine(dir.Path, "sendmail");
        File.CreateSymbolicLink(link, Path.ChangeExtension(SiloProcess.SiloAssembly, null));
        var subject = $"via link {Guid.NewGuid():N}";
        var result = await ClusterFixture.RunAsync(link, ["-f", "<script@example.org>", "linked@example.com", $"--Elemta:Cluster:GatewayPort={cluster.Silo.GatewayPort}"],
            $"Subject: {subject}\n\nkept\n.\nnot part of the message\n", null);
        Assert.True(result.ExitCode == 0, result.Error);

        var received = await cluster.Accepting.WaitForMessageAsync(m => Encoding.ASCII.GetString(m.Data).Contains(subject, StringComparison.Ordinal), ClusterFixture.Timeout);
        Assert.Equal(["linked@example.com"], received.Recipients);
        Assert.Equal("script@example.org", received.MailFrom);
        var text = Encoding.ASCII.GetString(received.Data);
        Assert.Contains("kept\r\n", text, StringComparison.Ordinal);
        Assert.DoesNotContain("not part of the message", text, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { "sendmail" }, 64, "sendmail: no recipients")]
    [InlineData(new[] { "sendmail", "-bp" }, 64, "sendmail: mode -bp is not supported")]
    [InlineData(new[] { "sendmail", "-Z", "x@example.com" }, 64, "sendmail: unknown option -Z")]
    [InlineData(new[] { "sendmail", "-f" }, 64, "sendmail: option -f needs a value")]
    public async Task Sendmail_refuses_bad_use_with_sysexits_codes(string[] arguments, int code, string start)
    {
        var result = await cluster.CliAsync("Subject: x\n\nbody\n", arguments);
        Assert.Equal(code, result.ExitCode);
        Assert.StartsWith(start, result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sendmail_exits_75_tempfail_when_no_gateway_answers()
    {
        var result = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "sendmail", "-f", "a@example.org", "b@example.com", $"--Elemta:Cluster:GatewayPort={FreePort.GetTcpPort()}"], "Subject: x\n\nbody\n", null);
        Assert.Equal(75, result.ExitCode);
        Assert.StartsWith("sendmail: message not sent: cannot reach the cluster", result.Error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Purge_of_more_than_a_thousand_messages_on_a_terminal_goes_one_by_one_behind_a_progress_bar()
    {
        const int Count = 1001;
        await using var client = await Elemta.Client.ElemtaClient.ConnectAsync(new Elemta.Client.ElemtaClientOptions { GatewayPort = cluster.Silo.GatewayPort });
        var content = Encoding.ASCII.GetBytes("Subject: bulk\r\n\r\nx\r\n");
        await Parallel.ForAsync(0, Count, new ParallelOptions { MaxDegreeOfParallelism = 32 }, async (i, ct) =>
            await client.SubmitAsync("bulk@example.org", [$"r{i}@bulk.test"], content, cancellationToken: ct));

        // bulk.test has no route and no DNS: hold its queue until every message is held (one in flight when a hold
        // lands is deferred instead, and the next hold takes it).
        await ClusterFixture.EventuallyAsync(
            async () =>
            {
                await client.ApplyToDomainAsync("bulk.test", Elemta.Contracts.QueueAction.Hold);
                return (await client.GetStatisticsAsync()).Messages.GetValueOrDefault(Elemta.Contracts.MessageQueueState.Held);
            },
            held => held >= Count, "all bulk messages held");

        // `script` gives the command a terminal, as an operator's shell would.
        var command = $"dotnet {SiloProcess.SiloAssembly} queue purge hold --yes --Elemta:Cluster:GatewayPort={cluster.Silo.GatewayPort}";
        var result = await ClusterFixture.RunAsync("script", ["-qec", command, "/dev/null"], null, new Dictionary<string, string> { ["TERM"] = "xterm", ["COLUMNS"] = "120" });
        Assert.True(result.ExitCode == 0, result.Output + result.Error);
        Assert.Contains("100%", result.Output, StringComparison.Ordinal);
        Assert.Matches(@"deleted [\d,]+ hold message\(s\)", result.Output);
        Assert.Equal(0, (await client.GetStatisticsAsync()).Messages.GetValueOrDefault(Elemta.Contracts.MessageQueueState.Held));
    }

    [Fact]
    public async Task A_command_exits_4_with_one_line_when_no_gateway_answers()
    {
        var result = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "queue", "stats", $"--Elemta:Cluster:GatewayPort={FreePort.GetTcpPort()}"], null, null);
        Assert.Equal(4, result.ExitCode);
        Assert.StartsWith("elemta: cannot reach the cluster (gateway port ", result.Error, StringComparison.Ordinal);
        Assert.Contains("is a silo running", result.Error, StringComparison.Ordinal);
        Assert.Single(result.Error.Trim().Split('\n'));
    }

    [Fact]
    public async Task Access_allow_deny_list_remove_with_json_tables_and_exit_codes()
    {
        var allowed = await cluster.CliAsync(null, "access", "allow", "198.51.100.0/24", "--comment", "partner relays");
        Assert.Equal((0, "allow 198.51.100.0/24"), (allowed.ExitCode, allowed.Output.Trim()));
        var denied = (await cluster.CliAsync(null, "access", "deny", "2001:DB8::/32", "--json")).Json();
        Assert.Equal("2001:db8::/32", denied.GetProperty("network").GetString());
        Assert.Equal("deny", denied.GetProperty("action").GetString());

        var table = await cluster.CliAsync(null, "access", "list");
        Assert.Equal(0, table.ExitCode);
        Assert.Matches(@"(?m)^NETWORK\s+ACTION\s+ADDED\s+BY\s+COMMENT", table.Output);
        Assert.Matches(@"(?m)^198\.51\.100\.0/24\s+allow\s+.+\s+cli:\S+\s+partner relays\s*$", table.Output);
        var json = (await cluster.CliAsync(null, "access", "list", "--json")).Json();
        Assert.True(json.GetProperty("version").GetInt64() >= 2);
        Assert.Contains(json.GetProperty("entries").EnumerateArray(), e => e.GetProperty("network").GetString() == "2001:db8::/32");

        // Bad input is a one-line usage error (2); an absent entry is not found (3); a viewer key cannot change it (5).
        var bad = await cluster.CliAsync(null, "access", "deny", "198.51.100.9/24");
        Assert.Equal((2, "elemta: network '198.51.100.9/24' has host bits set: the network is 198.51.100.0/24, or give the single address as 198.51.100.9/32."), (bad.ExitCode, bad.Error.Trim()));
        var viewerKey = (await cluster.CliAsync(null, "apikey", "create", "--role", "viewer", "--name", "cli-access", "--json")).Json().GetProperty("key").GetString()!;
        var url = cluster.Silo.HttpUrl.ToString();
        var read = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "access", "list", "--json", "--url", url, "--api-key", viewerKey], null, null);
        Assert.Equal(0, read.ExitCode);
        var forbidden = await ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, "access", "deny", "192.0.2.1", "--url", url, "--api-key", viewerKey], null, null);
        Assert.Equal(5, forbidden.ExitCode);
        Assert.Single(forbidden.Error.Trim().Split('\n'));

        Assert.Equal(0, (await cluster.CliAsync(null, "access", "remove", "198.51.100.0/24")).ExitCode);
        Assert.Equal(0, (await cluster.CliAsync(null, "access", "remove", "2001:db8::/32")).ExitCode);
        var gone = await cluster.CliAsync(null, "access", "remove", "198.51.100.0/24");
        Assert.Equal((3, "elemta: the access list has no entry for 198.51.100.0/24"), (gone.ExitCode, gone.Error.Trim()));
    }
}
