using System.Net;
using System.Text;
using System.Xml.Linq;
using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>
/// DMARC aggregate-report data on a real silo: inbound messages evaluated against a domain's policy (published on a
/// DNS server on loopback) are counted in the domain's report grain, and the admin API serves the RFC 7489 XML.
/// </summary>
public sealed class DmarcReportTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Inbound_messages_are_counted_and_served_as_an_aggregate_report()
    {
        await using var dns = LoopbackDnsServer.Start();
        dns.AddTxt("example.org", "v=spf1 ip4:127.0.0.1 -all");
        dns.AddTxt("_dmarc.example.org", "v=DMARC1; p=quarantine; rua=mailto:dmarc@example.org");
        dns.SetSoa("example.org", 300);
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:MailAuth:VerifyTrustedClients"] = "true",
            ["Elemta:Dns:Servers:0"] = $"127.0.0.1:{dns.Port}",
            ["Elemta:Delivery:LocalDomains:example.net:Transport"] = "Maildir",
            ["Elemta:Delivery:LocalDomains:example.net:MaildirPath"] = Path.Combine(data.Path, "mail", "{user}"),
        });

        for (var i = 0; i < 3; i++)
        {
            using var client = await SmtpLineClient.ConnectAsync(silo.SmtpPort);
            await client.CommandAsync("EHLO client.test");
            await client.CommandAsync("MAIL FROM:<alice@example.org>");
            await client.CommandAsync("RCPT TO:<bob@example.net>");
            await client.CommandAsync("DATA");
            Assert.StartsWith("250 ", await client.SendDataAsync($"From: <alice@example.org>\r\nSubject: report {i}\r\n\r\nbody\r\n"), StringComparison.Ordinal);
        }

        var passwordFile = Path.Combine(silo.DataDirectory, "initial-admin-password");
        await Eventually.GetAsync(() => Task.FromResult(File.Exists(passwordFile) && new FileInfo(passwordFile).Length > 0), x => x, Timeout, "the initial admin password");
        var password = (await File.ReadAllTextAsync(passwordFile)).Trim();
        using var http = new HttpClient { BaseAddress = silo.HttpUrl };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{password}")));
        var today = DateTime.UtcNow.ToString("yyyy-MM-dd", System.Globalization.CultureInfo.InvariantCulture);

        // Rows are counted as each message is accepted (the grain writes them in batches): poll until all three are in.
        var xml = await Eventually.GetAsync(async () =>
        {
            var response = await http.GetAsync(new Uri($"/api/dmarc/example.org/{today}", UriKind.Relative));
            return response.StatusCode == HttpStatusCode.OK ? XDocument.Parse(await response.Content.ReadAsStringAsync()) : null;
        }, x => x?.Descendants("count").Sum(c => int.Parse(c.Value, System.Globalization.CultureInfo.InvariantCulture)) == 3, Timeout, "three messages in the report");

        var record = Assert.Single(xml!.Descendants("record"));
        Assert.Equal("example.org", xml.Descendants("policy_published").Single().Element("domain")!.Value);
        Assert.Equal("quarantine", xml.Descendants("policy_published").Single().Element("p")!.Value);
        Assert.Equal("127.0.0.1", record.Descendants("source_ip").Single().Value);
        Assert.Equal("none", record.Descendants("disposition").Single().Value);
        Assert.Equal("pass", record.Element("row")!.Element("policy_evaluated")!.Element("spf")!.Value);
        Assert.Equal("example.org", record.Descendants("header_from").Single().Value);

        var missing = await http.GetAsync(new Uri("/api/dmarc/nothing.example/2026-01-01", UriKind.Relative));
        Assert.Equal(HttpStatusCode.NotFound, missing.StatusCode);
        var bad = await http.GetAsync(new Uri("/api/dmarc/example.org/yesterday", UriKind.Relative));
        Assert.Equal(HttpStatusCode.BadRequest, bad.StatusCode);
    }
}
