using System.Net;
using Elemta.Smtp.Tests;
using Elemta.Testing;

namespace Elemta.Plugins.Policy.Tests;

/// <summary>
/// What the plugin sends (the attributes of each protocol state), how it keeps and renews its connections, and what
/// a policy server that is down, hung or broken means for the mail. The server here is a scripted fake.
/// </summary>
public sealed class PolicyProtocolTests
{
    [Fact]
    public async Task Each_state_sends_Postfixs_attributes_and_one_instance_per_transaction()
    {
        await using var fake = FakePolicyServer.Answering("DUNNO");
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint, new Dictionary<string, string?>
        {
            ["Settings:States"] = "MAIL,RCPT,DATA,END-OF-MESSAGE",
            ["Settings:PolicyContext"] = "elemta-test",
        });

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<carol@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client)).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<dave@mx.test>")).AssertIs(250);

        var requests = fake.Requests.ToArray();
        Assert.Equal(["MAIL", "RCPT", "RCPT", "DATA", "END-OF-MESSAGE", "MAIL", "RCPT"], requests.Select(r => r["protocol_state"]).ToArray());
        foreach (var request in requests)
        {
            Assert.Equal("smtpd_access_policy", request["request"]);
            Assert.Equal("ESMTP", request["protocol_name"]);
            Assert.Equal("client.test", request["helo_name"]);
            Assert.Equal("127.0.0.1", request["client_address"]);
            Assert.Equal("unknown", request["client_name"]);
            Assert.Equal("unknown", request["reverse_client_name"]);
            // Sent when the host tells the plugin the local endpoint (SessionInfo.Local); empty, as Postfix leaves an unknown value, when not.
            Assert.Contains(request["server_address"], new[] { string.Empty, "127.0.0.1" });
            Assert.Contains(request["server_port"], new[] { string.Empty, harness.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) });
            Assert.Equal("elemta-test", request["policy_context"]);
            Assert.Equal(string.Empty, request["sasl_username"]);
            Assert.Equal(string.Empty, request["encryption_protocol"]);
            Assert.True(request.ContainsKey("etrn_domain"));
            Assert.True(int.Parse(request["client_port"], System.Globalization.CultureInfo.InvariantCulture) > 0);
        }

        Assert.Equal(["alice@client.test"], requests[..5].Select(r => r["sender"]).Distinct().ToArray());
        Assert.Equal(["", "bob@mx.test", "carol@mx.test", "", ""], requests[..5].Select(r => r["recipient"]).ToArray());
        Assert.Equal(["0", "0", "0", "2", "2"], requests[..5].Select(r => r["recipient_count"]).ToArray());
        Assert.Single(requests[..5].Select(r => r["instance"]).Distinct());
        Assert.NotEqual(requests[0]["instance"], requests[5]["instance"]);
        Assert.Equal(string.Empty, requests[5]["sender"]);
        Assert.Equal("dave@mx.test", requests[6]["recipient"]);

        // END-OF-MESSAGE carries the queue id and the size of the message as it will be stored.
        var accepted = Assert.Single(harness.Server.Acceptor.Messages);
        Assert.Equal(accepted.Envelope.MessageId, requests[4]["queue_id"]);
        Assert.Equal(accepted.Content.Length.ToString(System.Globalization.CultureInfo.InvariantCulture), requests[4]["size"]);
        Assert.Equal(string.Empty, requests[1]["queue_id"]);
    }

    [Fact]
    public async Task After_STARTTLS_and_AUTH_the_request_carries_the_TLS_protocol_and_the_SASL_method_and_user()
    {
        var certificates = Directory.CreateTempSubdirectory("elemta-policy-tls-").FullName;
        try
        {
            var users = new TestUserStore();
            users.Add("alice@example.org", "correct horse battery staple");
            await using var fake = FakePolicyServer.Answering("DUNNO");
            await using var harness = await PolicyHarness.StartAsync(fake.Endpoint, smtp: new Dictionary<string, string?> { ["Tls:SelfSignedDirectory"] = certificates }, users: users);

            await using var client = await harness.Server.ConnectAndEhloAsync();
            (await client.CommandAsync("STARTTLS")).AssertIs(220);
            await client.UpgradeToTlsAsync();
            (await client.CommandAsync("EHLO client.test")).AssertIs(250);
            var plain = Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes("\0alice@example.org\0correct horse battery staple"));
            (await client.CommandAsync($"AUTH PLAIN {plain}")).AssertIs(235);
            (await client.CommandAsync("MAIL FROM:<alice@example.org>")).AssertIs(250);
            (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);

            var request = Assert.Single(fake.Requests);
            Assert.Equal("PLAIN", request["sasl_method"]);
            Assert.Equal("alice@example.org", request["sasl_username"]);
            Assert.Matches(@"^TLSv1\.[23]$", request["encryption_protocol"]);
        }
        finally
        {
            Directory.Delete(certificates, recursive: true);
        }
    }

    [Fact]
    public async Task With_ResolveClientName_the_client_name_is_the_forward_confirmed_PTR_name()
    {
        var name = (await Dns.GetHostEntryAsync(IPAddress.Loopback)).HostName;
        await using var fake = FakePolicyServer.Answering("DUNNO");
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint, new Dictionary<string, string?> { ["Settings:ResolveClientName"] = "true" });

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);

        var request = Assert.Single(fake.Requests);
        Assert.NotEqual("unknown", name);
        Assert.Equal(name, request["reverse_client_name"]);
        Assert.Equal(name, request["client_name"]);
    }

    [Fact]
    public async Task Requests_of_many_sessions_reuse_one_open_connection()
    {
        await using var fake = FakePolicyServer.Answering("DUNNO");
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint);

        for (var i = 0; i < 3; i++)
        {
            await using var client = await harness.StartTransactionAsync();
            (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
            (await client.CommandAsync("RCPT TO:<carol@mx.test>")).AssertIs(250);
        }

        Assert.Equal(6, fake.Requests.Count);
        Assert.Equal(1, fake.Connections);
    }

    [Fact]
    public async Task Concurrent_requests_get_a_connection_each_and_only_PoolSize_stay_open()
    {
        await using var fake = FakePolicyServer.Answering("DUNNO");
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Nothing is answered until four requests are in: only four connections at once can get there.
        fake.BeforeReply = () =>
        {
            if (fake.Requests.Count >= 4)
            {
                gate.TrySetResult();
            }

            return gate.Task;
        };
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint, new Dictionary<string, string?> { ["Settings:PoolSize"] = "2" });

        var clients = await Task.WhenAll(Enumerable.Range(0, 4).Select(_ => harness.StartTransactionAsync()));
        var replies = await Task.WhenAll(clients.Select((c, i) => c.CommandAsync($"RCPT TO:<user{i}@mx.test>")));
        Assert.All(replies, r => r.AssertIs(250));
        Assert.Equal(4, fake.Connections);
        await Elemta.Plugins.Tests.PluginFolder.WaitUntilAsync(() => fake.ClosedByClient == 2, "the plugin to close the connections beyond PoolSize");

        // The two kept open serve what follows.
        foreach (var client in clients)
        {
            (await client.CommandAsync("RCPT TO:<again@mx.test>")).AssertIs(250);
            await client.DisposeAsync();
        }

        Assert.Equal(4, fake.Connections);
        Assert.Equal(8, fake.Requests.Count);
    }

    [Fact]
    public async Task A_connection_the_server_closed_is_replaced_and_the_request_answered()
    {
        await using var fake = FakePolicyServer.Answering("REJECT closed each time");
        fake.CloseAfterReply = true;
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        for (var i = 0; i < 4; i++)
        {
            (await client.CommandAsync($"RCPT TO:<user{i}@mx.test>")).AssertIs(554, "5.7.1");
        }

        Assert.Equal(4, fake.Requests.Count);
        Assert.Equal(4, fake.Connections);
    }

    [Fact]
    public async Task An_unreachable_server_under_FailOpen_lets_mail_through_and_the_host_logs_the_endpoint()
    {
        using var refusing = RefusingEndPoint.Bind(IPAddress.Loopback);
        var endpoint = $"inet:127.0.0.1:{((IPEndPoint)refusing.LocalEndPoint!).Port}";
        await using var harness = await PolicyHarness.StartAsync(endpoint);

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client)).AssertIs(250);

        Assert.Single(harness.Server.Acceptor.Messages);
        Assert.Contains(harness.Server.Logs, l => l.Message.Contains("Plugin PolicyDelegation hook rcpt threw", StringComparison.Ordinal)
            && l.Message.Contains($"policy server {endpoint} is unreachable", StringComparison.Ordinal)
            && l.Message.Contains("FailOpen applied", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unreachable_server_under_FailClosed_defers_with_451_4_3_0()
    {
        using var refusing = RefusingEndPoint.Bind(IPAddress.Loopback);
        await using var harness = await PolicyHarness.StartAsync($"inet:127.0.0.1:{((IPEndPoint)refusing.LocalEndPoint!).Port}", new Dictionary<string, string?> { ["FailurePolicy"] = "FailClosed" });

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(451, "4.3.0");
    }

    [Fact]
    public async Task An_unreachable_server_with_a_DefaultAction_answers_that_action()
    {
        using var refusing = RefusingEndPoint.Bind(IPAddress.Loopback);
        await using var harness = await PolicyHarness.StartAsync($"inet:127.0.0.1:{((IPEndPoint)refusing.LocalEndPoint!).Port}", new Dictionary<string, string?> { ["Settings:DefaultAction"] = "451 4.3.5 Server configuration problem" });

        await using var client = await harness.StartTransactionAsync();
        var reply = (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(451, "4.3.5");
        Assert.Equal("4.3.5 <bob@mx.test>: Recipient address rejected: Server configuration problem", reply.Text);
    }

    [Fact]
    public async Task A_server_that_does_not_answer_within_the_timeout_gets_the_DefaultAction()
    {
        await using var fake = FakePolicyServer.Answering("OK");
        fake.Silent = true;
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint, new Dictionary<string, string?>
        {
            ["Settings:Timeout"] = "00:00:00.5",
            ["Settings:DefaultAction"] = "DEFER Policy server timeout",
        });

        await using var client = await harness.StartTransactionAsync();
        var reply = (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(450, "4.7.1");
        Assert.EndsWith("Policy server timeout", reply.Text, StringComparison.Ordinal);
        Assert.Single(fake.Requests);
    }

    [Fact]
    public async Task A_server_that_does_not_answer_within_the_timeout_without_a_DefaultAction_is_logged_and_FailOpen_applies()
    {
        await using var fake = FakePolicyServer.Answering("REJECT never sent");
        fake.Silent = true;
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint, new Dictionary<string, string?> { ["Settings:Timeout"] = "00:00:00.5" });

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        Assert.Contains(harness.Server.Logs, l => l.Message.Contains($"policy server {fake.Endpoint}: no answer within 00:00:00.5000000 (its Timeout setting); FailOpen applied", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("hello\n\n", "line 'hello' is not name=value")]
    [InlineData("action=DUNNO\nreason=because\n\n", "unexpected attribute 'reason'")]
    [InlineData("action=DUNNO\naction=OK\n\n", "two action= attributes")]
    [InlineData("\n", "no action= attribute")]
    [InlineData("action=PREPEND no colon here\n\n", "PREPEND needs a header field")]
    [InlineData("action=REDIRECT\n\n", "REDIRECT needs one address")]
    [InlineData("action=\n\n", "the action is empty")]
    public async Task A_malformed_reply_is_logged_clearly_and_the_failure_policy_applies(string reply, string problem)
    {
        await using var fake = new FakePolicyServer(_ => reply);
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint, new Dictionary<string, string?> { ["FailurePolicy"] = "FailClosed" });

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(451, "4.3.0");
        Assert.Contains(harness.Server.Logs, l => l.Message.Contains("Plugin PolicyDelegation hook rcpt threw", StringComparison.Ordinal)
            && l.Message.Contains($"policy server {fake.Endpoint} sent a malformed", StringComparison.Ordinal)
            && l.Message.Contains(problem, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData(null, null, "Elemta:Plugins:Items:PolicyDelegation:Settings:Endpoint is required")]
    [InlineData("Endpoint", "tcp:127.0.0.1:10023", "Elemta:Plugins:Items:PolicyDelegation:Settings:Endpoint 'tcp:127.0.0.1:10023' is not a policy server endpoint: an endpoint starts with inet: or unix:")]
    [InlineData("Endpoint", "inet:127.0.0.1:99999", "'99999' is not a port")]
    [InlineData("States", "RCPT,CONNECT", "Elemta:Plugins:Items:PolicyDelegation:Settings:States names 'CONNECT'")]
    [InlineData("DefaultAction", "FILTER smtp:x", "Elemta:Plugins:Items:PolicyDelegation:Settings:DefaultAction 'FILTER smtp:x' is not an action Elemta carries out")]
    [InlineData("Timeout", "soon", "Elemta:Plugins:Items:PolicyDelegation:Settings:Timeout 'soon' is not a time span")]
    [InlineData("Timout", "00:00:01", "Elemta:Plugins:Items:PolicyDelegation:Settings:Timout is not a setting of the PolicyDelegation plugin")]
    [InlineData("ResolveClientName", "yes", "Elemta:Plugins:Items:PolicyDelegation:Settings:ResolveClientName 'yes' is not true or false")]
    [InlineData("PoolSize", "0", "Elemta:Plugins:Items:PolicyDelegation:Settings:PoolSize '0' is not a number of connections")]
    public async Task A_bad_setting_stops_the_start_naming_its_key(string? key, string? value, string message)
    {
        using var folder = new Elemta.Plugins.Tests.PluginFolder();
        folder.Add("policy", "Elemta.Plugins.PolicyDelegation");
        var items = new Dictionary<string, string?> { ["PolicyDelegation:Settings:Endpoint"] = key is null ? null : "inet:127.0.0.1:10023" };
        if (key is not null)
        {
            items[$"PolicyDelegation:Settings:{key}"] = value;
        }

        var error = await Assert.ThrowsAnyAsync<Exception>(() => SmtpTestServer.StartAsync(folder.Settings([], items)));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }
}
