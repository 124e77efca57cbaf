using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>Greylisting (RFC 6647), the built-in plugin with its triplets in persisted greylist grains, on a real silo.</summary>
public sealed class GreylistingTests
{
    [Fact]
    public async Task A_new_triplet_gets_450_4_2_0_a_retry_after_the_delay_passes_and_then_passes_at_once_even_after_a_restart()
    {
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
            ["Elemta:Greylisting:Enabled"] = "true",
            ["Elemta:Greylisting:Delay"] = "00:00:02",
            ["Elemta:Delivery:LocalDomains:example.net:Transport"] = "Maildir",
            ["Elemta:Delivery:LocalDomains:example.net:MaildirPath"] = Path.Combine(data.Path, "mail", "{user}"),
        };

        async Task<string> RcptAsync(SiloProcess silo, string recipient)
        {
            using var client = await SmtpLineClient.ConnectAsync(silo.SmtpPort);
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("MAIL FROM:<alice@client.test>");
            return await client.CommandAsync($"RCPT TO:<{recipient}>");
        }

        await using (var silo = await SiloProcess.StartAsync(data.Path, settings))
        {
            var first = await RcptAsync(silo, "bob@example.net");
            Assert.StartsWith("450 4.2.0 Greylisted, see RFC 6647; try again in ", first, StringComparison.Ordinal);
            // Another recipient is another triplet: greylisted on its own.
            Assert.StartsWith("450 4.2.0 ", await RcptAsync(silo, "carol@example.net"), StringComparison.Ordinal);

            // Retry as a sending MTA would, until the delay has passed.
            var passed = await Eventually.GetAsync(() => RcptAsync(silo, "bob@example.net"), r => r.StartsWith("250", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "the retry after the delay");
            Assert.StartsWith("250 ", passed, StringComparison.Ordinal);
        }

        // The triplet's state is persisted: after a restart it passes at once.
        await using var restarted = await SiloProcess.StartAsync(data.Path, settings);
        Assert.StartsWith("250 ", await RcptAsync(restarted, "bob@example.net"), StringComparison.Ordinal);
    }
}
