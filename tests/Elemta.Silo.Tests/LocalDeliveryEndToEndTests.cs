using System.Text;
using Elemta.Contracts;
using Elemta.Testing;
using MimeKit;

namespace Elemta.Silo.Tests;

/// <summary>Local domains through the real silo: SMTP in, Maildir out, and a bounce for a mailbox that does not exist.</summary>
public sealed class LocalDeliveryEndToEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task Mail_for_a_local_domain_lands_in_the_Maildir_and_an_unknown_mailbox_bounces()
    {
        await using var senderSide = SmtpSink.Start();
        using var data = new TempDirectory();
        var mailRoot = Path.Combine(data.Path, "mail");
        Directory.CreateDirectory(Path.Combine(mailRoot, "local.test", "bob", "Maildir"));
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:LocalDomains:local.test:Transport"] = "Maildir",
            ["Elemta:Delivery:LocalDomains:local.test:MaildirPath"] = Path.Combine(mailRoot, "{domain}", "{user}", "Maildir"),
            ["Elemta:Delivery:Routes:example.org"] = $"127.0.0.1:{senderSide.Port}",
        });
        await using var client = await silo.ConnectClientAsync();
        var raw = Encoding.ASCII.GetBytes(
            "From: alice@example.org\r\nTo: bob@local.test\r\nSubject: to a mailbox\r\n" +
            $"Message-ID: <{Guid.NewGuid():N}@example.org>\r\nDate: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nHello Bob\r\n");

        var id = await EndToEndTests.SendRawAsync(silo.SmtpPort, "alice@example.org", ["Bob@local.test", "nobody@local.test"], raw);

        var status = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.State.IsFinal() == true, Timeout, "local delivery");
        var byAddress = status!.Recipients.ToDictionary(r => r.Address);
        Assert.Equal(RecipientStatus.Delivered, byAddress["Bob@local.test"].Status);
        Assert.Equal(RecipientStatus.Failed, byAddress["nobody@local.test"].Status);

        var file = Assert.Single(Directory.GetFiles(Path.Combine(mailRoot, "local.test", "bob", "Maildir", "new")));
        var stored = await File.ReadAllTextAsync(file);
        Assert.StartsWith("Return-Path: <alice@example.org>\r\n", stored, StringComparison.Ordinal);
        Assert.Contains("Subject: to a mailbox\r\n", stored, StringComparison.Ordinal);
        Assert.EndsWith("\r\n\r\nHello Bob\r\n", stored, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(Path.Combine(mailRoot, "local.test", "bob", "Maildir", "tmp")));
        Assert.False(Directory.Exists(Path.Combine(mailRoot, "local.test", "nobody")));

        var bounce = await senderSide.WaitForMessageAsync(_ => true, Timeout);
        var report = Assert.IsType<MultipartReport>(MimeMessage.Load(new MemoryStream(bounce.Data)).Body);
        var recipient = Assert.Single(Assert.Single(report.OfType<MessageDeliveryStatus>()).StatusGroups.Skip(1), g => g.Count > 0);
        Assert.Equal("rfc822; nobody@local.test", recipient["Final-Recipient"]);
        Assert.Equal("5.1.1", recipient["Status"]);
    }
}
