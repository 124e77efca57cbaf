using System.Text;
using Elemta.Delivery;
using Elemta.Delivery.Dns;
using Elemta.MailAuth.Dkim;
using Elemta.Smtp.Tests;
using Elemta.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Elemta.Policies.Tests;

/// <summary>
/// DKIM in the SMTP session: outbound mail from a trusted client signed once at acceptance (and verified by the
/// independent dkimpy), inbound signatures verified into Authentication-Results and counted by DMARC, with the keys
/// published on a real DNS server on loopback.
/// </summary>
public sealed class DkimEndToEndTests : IAsyncLifetime
{
    private LoopbackDnsServer _dns = null!;
    private string _keyFile = null!;
    private DkimGeneratedKey _key = null!;

    public async Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        _key = DkimKeyGenerator.Generate("rsa");
        _keyFile = Path.Combine(Directory.CreateTempSubdirectory("elemta-dkim-").FullName, "client.test.pem");
        await File.WriteAllTextAsync(_keyFile, _key.PrivateKeyPem);
        _dns.AddTxt("s1._domainkey.client.test", _key.RecordText);
        // The sender's SPF never passes for 127.0.0.1 and its DMARC policy rejects: only an aligned DKIM pass gets it in.
        _dns.AddTxt("client.test", "v=spf1 -all");
        _dns.AddTxt("_dmarc.client.test", "v=DMARC1; p=reject");
        _dns.SetSoa("client.test", 300);
    }

    public async Task DisposeAsync()
    {
        await _dns.DisposeAsync();
        Directory.Delete(Path.GetDirectoryName(_keyFile)!, recursive: true);
    }

    private Task<SmtpTestServer> StartAsync(bool trusted)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Elemta:Dns:Servers:0"] = $"127.0.0.1:{_dns.Port}",
            ["Elemta:Dns:Retries"] = "0",
            ["Elemta:Dkim:Signing:client.test:Selector"] = "s1",
            ["Elemta:Dkim:Signing:client.test:KeyFile"] = _keyFile,
            ["Elemta:Delivery:LocalDomains:mx.test:Transport"] = "Maildir",
        };
        if (!trusted)
        {
            settings["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24";
        }

        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        return SmtpTestServer.StartAsync(settings, services: s =>
        {
            s.AddOptions<DnsOptions>().Bind(configuration.GetSection(DnsOptions.SectionName));
            s.AddSingleton<DnsLookup>();
            s.AddElemtaPolicies(configuration);
        });
    }

    private static async Task<string> SendAsync(SmtpTestServer server, string content)
    {
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
        (await client.CommandAsync("DATA")).AssertIs(354);
        var reply = await client.CommandAsync(content + ".");
        return reply.Code + " " + reply.Text;
    }

    private const string Message =
        "From: Alice <alice@client.test>\r\nTo: Bob <bob@mx.test>\r\nSubject: signed once\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\n" +
        "Message-ID: <dkim-e2e@client.test>\r\n\r\nHello Bob,\r\nthis travels signed.\r\n";

    [Fact]
    public async Task Mail_from_a_trusted_client_is_signed_once_and_dkimpy_accepts_the_signature()
    {
        await using var server = await StartAsync(trusted: true);
        Assert.StartsWith("250 ", await SendAsync(server, Message), StringComparison.Ordinal);

        var stored = Assert.Single(server.Acceptor.Messages).Content;
        var text = Encoding.ASCII.GetString(stored);
        Assert.StartsWith("DKIM-Signature: ", text, StringComparison.Ordinal);
        Assert.Single(text.Split("\r\n"), l => l.StartsWith("DKIM-Signature:", StringComparison.Ordinal));
        Assert.Contains("d=client.test", text, StringComparison.Ordinal);
        Assert.DoesNotContain("Authentication-Results", text, StringComparison.Ordinal);

        // dkimpy, an independent implementation, with the public key served as DNS would serve it.
        var (exit, output) = await Dkimpy.VerifyAsync(stored, "s1._domainkey.client.test", _key.RecordText);
        Assert.True(exit == 0, output);
        Assert.Contains("True", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_inbound_message_signed_by_its_author_passes_DKIM_and_so_DMARC_although_SPF_fails()
    {
        // Signed the way its author's server would: Elemta's signer, the published key.
        var signer = new DkimSigner(new DkimOptions
        {
            Signing = { ["client.test"] = new DkimSigningDomainOptions { Selector = "s1", KeyFile = _keyFile } },
        });
        var field = await signer.SignAsync(Encoding.ASCII.GetBytes(Message), "client.test", CancellationToken.None);
        await using var server = await StartAsync(trusted: false);
        Assert.StartsWith("250 ", await SendAsync(server, field + Message), StringComparison.Ordinal);

        var text = Encoding.ASCII.GetString(Assert.Single(server.Acceptor.Messages).Content);
        var results = text.Split("\r\n").Single(l => l.StartsWith("Authentication-Results:", StringComparison.Ordinal));
        Assert.Contains("spf=fail smtp.mailfrom=alice@client.test", results, StringComparison.Ordinal);
        Assert.Contains("dkim=pass header.d=client.test header.s=s1", results, StringComparison.Ordinal);
        Assert.Contains("dmarc=pass (p=reject dis=none) header.from=client.test", results, StringComparison.Ordinal);
        // Inbound mail is verified, never signed again.
        Assert.Single(text.Split("\r\n"), l => l.StartsWith("DKIM-Signature:", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_tampered_inbound_message_fails_DKIM_and_is_refused_by_the_reject_policy()
    {
        var signer = new DkimSigner(new DkimOptions
        {
            Signing = { ["client.test"] = new DkimSigningDomainOptions { Selector = "s1", KeyFile = _keyFile } },
        });
        var field = await signer.SignAsync(Encoding.ASCII.GetBytes(Message), "client.test", CancellationToken.None);
        await using var server = await StartAsync(trusted: false);
        var reply = await SendAsync(server, field + Message.Replace("this travels signed", "this was changed", StringComparison.Ordinal));
        Assert.Equal("550 5.7.1 Message refused: the DMARC policy of client.test says reject mail that fails authentication", reply);
    }
}

/// <summary>dkimpy (Debian's python3-dkim) verifying a message with a key given to it as its DNS answer.</summary>
internal static class Dkimpy
{
    public static async Task<(int Exit, string Output)> VerifyAsync(byte[] message, string name, string record)
    {
        var file = Path.GetTempFileName();
        await File.WriteAllBytesAsync(file, message);
        try
        {
            var script = $"import dkim,sys\nrec={System.Text.Json.JsonSerializer.Serialize(record)}.encode()\n" +
                $"def dns(n, timeout=5):\n    return rec if n.decode().rstrip('.') == {System.Text.Json.JsonSerializer.Serialize(name)} else None\n" +
                "print(dkim.verify(open(sys.argv[1],'rb').read(), dnsfunc=dns))\n";
            var start = new System.Diagnostics.ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(script);
            start.ArgumentList.Add(file);
            using var process = System.Diagnostics.Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            return (process.ExitCode, output);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
