using System.Text;
using Elemta.Delivery;
using Elemta.Delivery.Dns;
using Elemta.MailAuth.Arc;
using Elemta.MailAuth.Dkim;
using Elemta.MailAuth.Spf;
using Elemta.Smtp.Tests;
using Elemta.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Elemta.Policies.Tests;

/// <summary>ARC sealing of inbound mail (RFC 8617 §5.1) in the SMTP session, checked by Elemta's validator and by dkimpy's.</summary>
public sealed class ArcSealingTests : IAsyncLifetime
{
    private LoopbackDnsServer _dns = null!;
    private string _keyFile = null!;
    private DkimGeneratedKey _key = null!;

    public async Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        _key = DkimKeyGenerator.Generate("rsa");
        _keyFile = Path.Combine(Directory.CreateTempSubdirectory("elemta-arc-").FullName, "arc.pem");
        await File.WriteAllTextAsync(_keyFile, _key.PrivateKeyPem);
        _dns.AddTxt("arc1._domainkey.forwarder.test", _key.RecordText);
        _dns.AddTxt("client.test", "v=spf1 ip4:127.0.0.1 -all");
        _dns.SetSoa("client.test", 300);
        _dns.SetSoa("forwarder.test", 300);
    }

    public async Task DisposeAsync()
    {
        await _dns.DisposeAsync();
        Directory.Delete(Path.GetDirectoryName(_keyFile)!, recursive: true);
    }

    [Fact]
    public async Task An_inbound_message_is_sealed_once_with_this_servers_results_and_both_validators_accept_the_chain()
    {
        var settings = new Dictionary<string, string?>
        {
            ["Elemta:Dns:Servers:0"] = $"127.0.0.1:{_dns.Port}",
            ["Elemta:Dns:Retries"] = "0",
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
            ["Elemta:Delivery:LocalDomains:mx.test:Transport"] = "Maildir",
            ["Elemta:MailAuth:Arc:Seal:Domain"] = "forwarder.test",
            ["Elemta:MailAuth:Arc:Seal:Selector"] = "arc1",
            ["Elemta:MailAuth:Arc:Seal:KeyFile"] = _keyFile,
        };
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(settings).Build();
        await using var server = await SmtpTestServer.StartAsync(settings, services: s =>
        {
            s.AddOptions<DnsOptions>().Bind(configuration.GetSection(DnsOptions.SectionName));
            s.AddSingleton<DnsLookup>();
            s.AddElemtaPolicies(configuration);
        });

        await using (var client = await server.ConnectAsync())
        {
            (await client.ReadReplyAsync()).AssertIs(220);
            (await client.CommandAsync("EHLO client.test")).AssertIs(250);
            (await client.CommandAsync("MAIL FROM:<alice@client.test>")).AssertIs(250);
            (await client.CommandAsync("RCPT TO:<bob@mx.test>")).AssertIs(250);
            (await client.CommandAsync("DATA")).AssertIs(354);
            (await client.CommandAsync("From: <alice@client.test>\r\nTo: <bob@mx.test>\r\nSubject: forwarded\r\nDate: Thu, 03 Dec 2026 12:00:00 +0000\r\n\r\nHello\r\n.")).AssertIs(250);
        }

        var stored = Assert.Single(server.Acceptor.Messages).Content;
        var lines = Encoding.ASCII.GetString(stored).Split("\r\n");
        Assert.StartsWith("ARC-Seal: i=1; ", lines[0], StringComparison.Ordinal);
        Assert.Contains("cv=none", lines[0], StringComparison.Ordinal);
        Assert.StartsWith("ARC-Message-Signature: i=1; ", lines[1], StringComparison.Ordinal);
        Assert.StartsWith($"ARC-Authentication-Results: i=1; {SmtpTestServer.HostName};", lines[2], StringComparison.Ordinal);
        Assert.Contains("spf=pass", lines[2], StringComparison.Ordinal);
        Assert.StartsWith($"Authentication-Results: {SmtpTestServer.HostName}; spf=pass", lines[3], StringComparison.Ordinal);

        // Elemta's validator, over the same loopback DNS.
        var validator = new ArcValidator(new ArcKeyLocator(new DnsClientSpfDns(new SpfDnsOptions { Servers = [$"127.0.0.1:{_dns.Port}"] })));
        var validation = await validator.ValidateAsync(MimeKit.MimeMessage.Load(new MemoryStream(stored)), CancellationToken.None);
        Assert.Equal(ArcChainStatus.Pass, validation.Status);
        Assert.Equal(1, validation.Instances);

        // dkimpy's, an independent implementation.
        var file = Path.GetTempFileName();
        await File.WriteAllBytesAsync(file, stored);
        try
        {
            var script = $"import dkim,sys\nrec={System.Text.Json.JsonSerializer.Serialize(_key.RecordText)}.encode()\n" +
                "def dns(n, timeout=5):\n    return rec if n.decode().rstrip('.') == 'arc1._domainkey.forwarder.test' else None\n" +
                "cv, results, comment = dkim.arc_verify(open(sys.argv[1],'rb').read(), dnsfunc=dns)\nprint(cv.decode(), comment)\n";
            var start = new System.Diagnostics.ProcessStartInfo("/usr/bin/python3") { RedirectStandardOutput = true, RedirectStandardError = true };
            start.ArgumentList.Add("-c");
            start.ArgumentList.Add(script);
            start.ArgumentList.Add(file);
            using var process = System.Diagnostics.Process.Start(start)!;
            var output = await process.StandardOutput.ReadToEndAsync() + await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.StartsWith("pass", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
