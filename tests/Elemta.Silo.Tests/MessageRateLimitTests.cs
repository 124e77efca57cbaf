using Elemta.Testing;
using MailKit.Net.Smtp;

namespace Elemta.Silo.Tests;

/// <summary>
/// Message and recipient rate limits (Elemta:RateLimit), the built-in rate-limits plugin on real silos: refusal codes
/// on a real socket, and a limit that holds across two silos sharing PostgreSQL.
/// </summary>
public sealed class MessageRateLimitTests
{
    private static async Task<(int Code, string Text)> CommandAsync(SmtpLineClient client, string line)
    {
        var reply = await client.CommandAsync(line);
        return (int.Parse(reply[..3], System.Globalization.CultureInfo.InvariantCulture), reply.Length > 4 ? reply[4..] : string.Empty);
    }

    [Fact]
    public async Task Over_the_message_rate_MAIL_gets_450_4_7_1_and_over_the_recipient_rate_RCPT_gets_452_4_5_3_with_a_hint()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            // Loopback is in the trusted networks by default, which skip the per-address limits: make it a stranger.
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
            ["Elemta:RateLimit:MessagesPerIp:Limit"] = "2",
            ["Elemta:RateLimit:MessagesPerIp:Window"] = "01:00:00",
            ["Elemta:RateLimit:RecipientsPerSender:Limit"] = "3",
            ["Elemta:RateLimit:RecipientsPerSender:Window"] = "01:00:00",
            ["Elemta:Delivery:LocalDomains:example.net:Transport"] = "Maildir",
            ["Elemta:Delivery:LocalDomains:example.net:MaildirPath"] = Path.Combine(data.Path, "mail", "{user}"),
        });

        using var client = await SmtpLineClient.ConnectAsync(silo.SmtpPort);
        Assert.Equal(250, (await CommandAsync(client, "EHLO client.test")).Code);
        Assert.Equal(250, (await CommandAsync(client, "MAIL FROM:<a@client.test>")).Code);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(250, (await CommandAsync(client, $"RCPT TO:<r{i}@example.net>")).Code);
        }

        var rcpt = await CommandAsync(client, "RCPT TO:<r3@example.net>");
        Assert.Equal(452, rcpt.Code);
        Assert.StartsWith("4.5.3 Too many recipients from a@client.test; try again in ", rcpt.Text, StringComparison.Ordinal);
        Assert.Equal(250, (await CommandAsync(client, "RSET")).Code);
        Assert.Equal(250, (await CommandAsync(client, "MAIL FROM:<b@client.test>")).Code);
        Assert.Equal(250, (await CommandAsync(client, "RSET")).Code);
        var mail = await CommandAsync(client, "MAIL FROM:<c@client.test>");
        Assert.Equal(450, mail.Code);
        Assert.StartsWith("4.7.1 Too many messages from 127.0.0.1; try again in ", mail.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_sender_limit_holds_across_two_silos_sharing_postgres()
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("ratelimit");
        using var dataA = new TempDirectory();
        using var dataB = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Storage:Provider"] = "PostgreSQL",
            ["Elemta:Storage:ConnectionString"] = connectionString,
            ["Elemta:Cluster:ClusterId"] = "ratelimit-" + Guid.NewGuid().ToString("N")[..8],
            ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
            ["Elemta:RateLimit:MessagesPerSender:Limit"] = "3",
            ["Elemta:RateLimit:MessagesPerSender:Window"] = "01:00:00",
        };
        var silos = await Task.WhenAll(SiloProcess.StartAsync(dataA.Path, settings), SiloProcess.StartAsync(dataB.Path, settings));
        await using var a = silos[0];
        await using var b = silos[1];

        // Two MAIL FROMs on each silo, alternating: the sender's fourth, wherever it lands, is over the limit of three.
        var codes = new List<int>();
        foreach (var silo in new[] { a, b, a, b })
        {
            using var client = await SmtpLineClient.ConnectAsync(silo.SmtpPort);
            await CommandAsync(client, "EHLO client.test");
            codes.Add((await CommandAsync(client, "MAIL FROM:<bulk@client.test>")).Code);
        }

        Assert.Equal([250, 250, 250, 450], codes);
    }
}
