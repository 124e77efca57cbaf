using System.Text;

namespace Elemta.Plugins.Policy.Tests;

/// <summary>
/// The access(5) actions postgrey never sends, answered by a scripted fake policy server, as the client sees them over
/// a real SMTP socket and as the message is queued.
/// </summary>
public sealed class PolicyActionTests
{
    [Theory]
    [InlineData("REJECT Go away", 554, "5.7.1", "Go away")]
    [InlineData("reject", 554, "5.7.1", "Access denied")]
    [InlineData("REJECT 5.7.26 Unauthenticated mail", 554, "5.7.26", "Unauthenticated mail")]
    [InlineData("550 5.7.9 Policy says no", 550, "5.7.9", "Policy says no")]
    [InlineData("550 4.1.1 Class fixed", 550, "5.1.1", "Class fixed")]
    [InlineData("553 Bad sender", 553, "5.7.1", "Bad sender")]
    [InlineData("521 Closing", 550, "5.7.1", "Closing")]
    [InlineData("452 4.5.3 Too many recipients", 452, "4.5.3", "Too many recipients")]
    [InlineData("421 4.7.0 Closing", 450, "4.7.0", "Closing")]
    [InlineData("DEFER Come back later", 450, "4.7.1", "Come back later")]
    [InlineData("DEFER_IF_PERMIT Service is unavailable", 450, "4.7.1", "Service is unavailable")]
    public async Task A_refusing_action_answers_the_recipient_with_its_code_and_text(string action, int code, string enhanced, string text)
    {
        await using var fake = FakePolicyServer.Answering(action);
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        var reply = (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(code, enhanced);
        Assert.Equal($"{enhanced} <bob@mx.test>: Recipient address rejected: {text}", reply.Text);
        (await client.CommandAsync("DATA")).AssertIs(554, "5.5.1");
        Assert.Empty(harness.Server.Acceptor.Messages);
    }

    [Theory]
    [InlineData("OK")]
    [InlineData("DUNNO")]
    [InlineData("permit")]
    [InlineData("12345")]
    [InlineData("DEFER_IF_REJECT Would defer a rejection")]
    [InlineData("WARN Looks odd")]
    [InlineData("INFO Noted")]
    [InlineData("FILTER smtp:[192.0.2.1]:10025")]
    [InlineData("reject_unauth_destination")]
    [InlineData("FROBNICATE now")]
    public async Task An_accepting_logging_or_unsupported_action_lets_the_message_through(string action)
    {
        await using var fake = FakePolicyServer.Answering(action);
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client)).AssertIs(250);

        Assert.Single(harness.Server.Acceptor.Messages);
        Assert.DoesNotContain(harness.Server.Logs, l => l.Message.Contains("Plugin PolicyDelegation", StringComparison.Ordinal) && l.Message.Contains("threw", StringComparison.Ordinal));
    }

    [Fact]
    public async Task An_unsupported_action_is_noted_on_standard_error_and_has_no_effect()
    {
        // The plugin API gives plugins no logger: the plugin's notes go to standard error (the process's, so the
        // writer is swapped for this test and the lines picked out by this test's unique action).
        var action = "FILTER smtp:[192.0.2.1]:" + Random.Shared.Next(10000, 60000);
        await using var fake = FakePolicyServer.Answering(action);
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint);
        var original = Console.Error;
        using var captured = new StringWriter();
        Console.SetError(TextWriter.Synchronized(captured));
        try
        {
            await using var client = await harness.StartTransactionAsync();
            (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        }
        finally
        {
            Console.SetError(original);
        }

        Assert.Contains($"elemta: plugin PolicyDelegation: warning: policy server {fake.Endpoint} answered '{action}', which Elemta does not carry out; going on as if it said DUNNO", captured.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PREPEND_at_RCPT_adds_the_header_to_the_message_in_order()
    {
        var answers = new Dictionary<string, string>
        {
            ["bob@mx.test"] = "PREPEND X-Policy-First: one",
            ["carol@mx.test"] = "PREPEND X-Policy-Second:two words",
        };
        await using var fake = new FakePolicyServer(r => $"action={answers[r["recipient"]]}\n\n");
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<carol@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client)).AssertIs(250);

        var content = Encoding.UTF8.GetString(Assert.Single(harness.Server.Acceptor.Messages).Content);
        Assert.StartsWith("X-Policy-First: one\r\nX-Policy-Second: two words\r\n", content, StringComparison.Ordinal);

        // The next transaction of the session starts clean: no header is carried over.
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        answers["bob@mx.test"] = "DUNNO";
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client, "second")).AssertIs(250);
        Assert.DoesNotContain("X-Policy", Encoding.UTF8.GetString(harness.Server.Acceptor.Messages[1].Content), StringComparison.Ordinal);
    }

    [Fact]
    public async Task PREPEND_at_END_OF_MESSAGE_adds_the_header()
    {
        await using var fake = new FakePolicyServer(r => r["protocol_state"] == "END-OF-MESSAGE" ? "action=PREPEND X-Scanned: by policy\n\n" : "action=DUNNO\n\n");
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint, new Dictionary<string, string?> { ["Settings:States"] = "RCPT, END-OF-MESSAGE" });

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client)).AssertIs(250);

        Assert.StartsWith("X-Scanned: by policy\r\n", Encoding.UTF8.GetString(Assert.Single(harness.Server.Acceptor.Messages).Content), StringComparison.Ordinal);
    }

    [Fact]
    public async Task HOLD_at_RCPT_accepts_the_recipient_and_holds_the_message()
    {
        await using var fake = FakePolicyServer.Answering("HOLD quarantine me");
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        await PolicyHarness.SendDataAsync(client);

        // What the server does with a held message is the host's (see docs/plugins.md); the plugin's part is the decision.
        Assert.Contains(harness.Server.Logs, l => l.Message.Contains("Plugin PolicyDelegation hook message decided Hold", StringComparison.Ordinal) && l.Message.Contains("quarantine me", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DISCARD_at_RCPT_answers_250_and_queues_nothing()
    {
        await using var fake = FakePolicyServer.Answering("DISCARD spam trap");
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client)).AssertIs(250, "2.0.0");

        Assert.Empty(harness.Server.Acceptor.Messages);
        Assert.Contains(harness.Server.Logs, l => l.Message.Contains("dropped by a plugin", StringComparison.Ordinal));
    }

    [Fact]
    public async Task REDIRECT_replaces_the_recipients_and_BCC_adds_one()
    {
        var answers = new Dictionary<string, string>
        {
            ["bob@mx.test"] = "BCC archive@mx.test",
            ["carol@mx.test"] = "REDIRECT abuse@mx.test",
        };
        await using var fake = new FakePolicyServer(r => $"action={answers[r["recipient"]]}\n\n");
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client, "bcc")).AssertIs(250);
        Assert.Equal(["bob@mx.test", "archive@mx.test"], harness.Server.Acceptor.Messages[0].Envelope.Recipients.ToArray());

        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<carol@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client, "redirect")).AssertIs(250);
        Assert.Equal(["abuse@mx.test"], harness.Server.Acceptor.Messages[1].Envelope.Recipients.ToArray());
    }

    [Fact]
    public async Task A_refusal_at_MAIL_DATA_or_END_OF_MESSAGE_names_the_stage_as_Postfix_does()
    {
        await using var fake = new FakePolicyServer(r => r["protocol_state"] switch
        {
            "MAIL" when r["sender"] == "spammer@client.test" => "action=REJECT No thanks\n\n",
            "DATA" when r["sender"] == "late@client.test" => "action=DEFER Busy\n\n",
            "END-OF-MESSAGE" => "action=550 5.7.0 Content refused\n\n",
            _ => "action=DUNNO\n\n",
        });
        await using var harness = await PolicyHarness.StartAsync(fake.Endpoint, new Dictionary<string, string?>
        {
            ["Settings:States:0"] = "MAIL",
            ["Settings:States:1"] = "RCPT",
            ["Settings:States:2"] = "DATA",
            ["Settings:States:3"] = "END-OF-MESSAGE",
        });

        await using var client = await harness.Server.ConnectAndEhloAsync();
        Assert.Equal("5.7.1 <spammer@client.test>: Sender address rejected: No thanks", (await client.CommandAsync("MAIL FROM:<spammer@client.test>")).AssertIs(554).Text);
        (await client.CommandAsync("MAIL FROM:<late@client.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        Assert.Equal("4.7.1 <DATA>: Data command rejected: Busy", (await client.CommandAsync("DATA")).AssertIs(450).Text);
        (await client.CommandAsync("RSET")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        Assert.Equal("5.7.0 <END-OF-MESSAGE>: End-of-data rejected: Content refused", (await PolicyHarness.SendDataAsync(client)).AssertIs(550).Text);
        Assert.Empty(harness.Server.Acceptor.Messages);
    }
}
