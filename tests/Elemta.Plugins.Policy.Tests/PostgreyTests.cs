using System.Text;

namespace Elemta.Plugins.Policy.Tests;

/// <summary>
/// The plugin against a real policy server, Debian's postgrey, over a real SMTP socket: greylisting as Postfix users
/// know it, whitelists, a server that closes each connection, and a unix socket.
/// </summary>
public sealed class PostgreyTests
{
    private const string GreylistText = "<bob@mx.test>: Recipient address rejected: Greylisted, see http://postgrey.schweikert.ch/help/mx.test.html";

    [Fact]
    public async Task A_new_triplet_is_greylisted_with_postgreys_450_then_accepted_after_the_delay_with_its_X_Greylist_header()
    {
        const int delay = 2;
        await using var postgrey = await PostgreyServer.StartAsync(delay);
        await using var harness = await PolicyHarness.StartAsync(postgrey.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        // postgrey answers DEFER_IF_PERMIT with its text, and with 4.2.0 since the request carries etrn_domain.
        var greylisted = (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(450, "4.2.0");
        Assert.Equal($"4.2.0 {GreylistText}", greylisted.Text);
        await postgrey.WaitForLogAsync(l => l.Contains("action=greylist, reason=new", StringComparison.Ordinal) && l.Contains("recipient=bob@mx.test", StringComparison.Ordinal));

        // The client retries the same triplet (client network, sender, recipient) until postgrey lets it pass.
        var early = 0;
        var waited = await PolicyHarness.PollAsync(async () =>
        {
            (await client.CommandAsync("RSET")).AssertIs(250);
            (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
            var reply = await client.CommandAsync("RCPT TO:<bob@mx.test>");
            if (reply.Code == 450)
            {
                Assert.Equal($"4.2.0 {GreylistText}", reply.Text);
                early++;
                return false;
            }

            reply.AssertIs(250);
            return true;
        }, TimeSpan.FromSeconds(30), "postgrey to let the triplet pass");

        // postgrey counts whole seconds, so the pass comes between delay - 1 and delay + 1 s after the first try.
        Assert.True(waited >= TimeSpan.FromSeconds(delay - 1), $"passed after {waited}, before postgrey's {delay} s delay");
        Assert.True(early > 0, "no retry was greylisted before the delay");
        (await PolicyHarness.SendDataAsync(client, "greylisted once")).AssertIs(250);

        // The passing answer was 'PREPEND X-Greylist: …': the header is on the message as queued.
        var content = Encoding.UTF8.GetString(Assert.Single(harness.Server.Acceptor.Messages).Content);
        Assert.Matches(@"^X-Greylist: delayed \d+ seconds by postgrey-[\d.]+ at postgrey\.test; ", content);
        await postgrey.WaitForLogAsync(l => l.Contains("action=pass, reason=triplet found", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_on_postgreys_whitelist_passes_at_once()
    {
        await using var postgrey = await PostgreyServer.StartAsync(delay: 300, whitelistClients: ["127.0.0.1"]);
        await using var harness = await PolicyHarness.StartAsync(postgrey.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await PolicyHarness.SendDataAsync(client)).AssertIs(250);

        Assert.DoesNotContain("X-Greylist", Encoding.UTF8.GetString(Assert.Single(harness.Server.Acceptor.Messages).Content), StringComparison.Ordinal);
        await postgrey.WaitForLogAsync(l => l.Contains("action=pass, reason=client whitelist", StringComparison.Ordinal));
    }

    [Fact]
    public async Task With_ResolveClientName_a_client_on_postgreys_whitelist_by_name_passes_at_once()
    {
        // 127.0.0.1's name from the system resolver (/etc/hosts: localhost), as the plugin looks it up.
        var name = (await System.Net.Dns.GetHostEntryAsync(System.Net.IPAddress.Loopback)).HostName;
        await using var postgrey = await PostgreyServer.StartAsync(delay: 300, whitelistClients: [name]);
        await using var harness = await PolicyHarness.StartAsync(postgrey.Endpoint, new Dictionary<string, string?> { ["Settings:ResolveClientName"] = "true" });

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        await postgrey.WaitForLogAsync(l => l.Contains("action=pass, reason=client whitelist", StringComparison.Ordinal) && l.Contains($"client_name={name}", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_recipient_on_postgreys_whitelist_passes_at_once_while_another_is_greylisted()
    {
        await using var postgrey = await PostgreyServer.StartAsync(delay: 300, whitelistRecipients: ["postmaster@"]);
        await using var harness = await PolicyHarness.StartAsync(postgrey.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        (await client.CommandAsync("RCPT TO:<postmaster@mx.test>")).AssertIs(250);
        Assert.Equal($"4.2.0 {GreylistText}", (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(450, "4.2.0").Text);
        (await PolicyHarness.SendDataAsync(client)).AssertIs(250);

        Assert.Equal(["postmaster@mx.test"], Assert.Single(harness.Server.Acceptor.Messages).Envelope.Recipients.ToArray());
        await postgrey.WaitForLogAsync(l => l.Contains("action=pass, reason=recipient whitelist", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Postgrey_closing_the_connection_after_each_reply_is_asked_again_on_a_new_connection()
    {
        // --exim: one request per connection. Every pooled connection is found closed and replaced.
        await using var postgrey = await PostgreyServer.StartAsync(delay: 300, whitelistRecipients: ["postmaster@"], exim: true);
        await using var harness = await PolicyHarness.StartAsync(postgrey.Endpoint);

        for (var i = 0; i < 3; i++)
        {
            await using var client = await harness.StartTransactionAsync($"sender{i}@client.test");
            (await client.CommandAsync("RCPT TO:<postmaster@mx.test>")).AssertIs(250);
            (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(450, "4.2.0");
            (await PolicyHarness.SendDataAsync(client)).AssertIs(250);
        }

        Assert.Equal(3, harness.Server.Acceptor.Messages.Count);
        await Elemta.Plugins.Tests.PluginFolder.WaitUntilAsync(() => postgrey.Log.Count(l => l.StartsWith("action=", StringComparison.Ordinal)) == 6, "postgrey's six decisions");
        Assert.DoesNotContain(harness.Server.Logs, l => l.Message.Contains("PolicyDelegation", StringComparison.Ordinal) && l.Message.Contains("threw", StringComparison.Ordinal));
    }

    [Fact]
    public async Task Postgrey_on_a_unix_socket_greylists_as_on_a_port()
    {
        await using var postgrey = await PostgreyServer.StartAsync(delay: 300, unixSocket: true);
        Assert.StartsWith("unix:/", postgrey.Endpoint, StringComparison.Ordinal);
        await using var harness = await PolicyHarness.StartAsync(postgrey.Endpoint);

        await using var client = await harness.StartTransactionAsync();
        Assert.Equal($"4.2.0 {GreylistText}", (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(450, "4.2.0").Text);
    }
}
