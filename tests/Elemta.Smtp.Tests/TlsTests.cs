using System.Security.Authentication;
using System.Text;

namespace Elemta.Smtp.Tests;

/// <summary>STARTTLS (RFC 3207), implicit TLS (RFC 8314), REQUIRETLS (RFC 8689) and the RequireTls policy.</summary>
public sealed class TlsTests : IDisposable
{
    private readonly string _certificates = Path.Combine(Path.GetTempPath(), "elemta-tls-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_certificates))
        {
            Directory.Delete(_certificates, recursive: true);
        }
    }

    private Dictionary<string, string?> WithCertificate(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?> { ["Tls:SelfSignedDirectory"] = _certificates };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }

    [Fact]
    public async Task Without_a_certificate_STARTTLS_is_neither_advertised_nor_accepted()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);

        var ehlo = (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        Assert.DoesNotContain("STARTTLS", ehlo.Texts);
        (await client.CommandAsync("STARTTLS")).AssertIs(502, "5.5.1");
    }

    [Fact]
    public async Task STARTTLS_upgrades_the_session_which_then_forgets_the_EHLO_and_accepts_mail()
    {
        await using var server = await SmtpTestServer.StartAsync(WithCertificate());
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        var before = (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        Assert.Contains("STARTTLS", before.Texts);
        Assert.DoesNotContain("REQUIRETLS", before.Texts);

        (await client.CommandAsync("STARTTLS")).AssertIs(220, "2.0.0");
        await client.UpgradeToTlsAsync();
        Assert.True(client.Tls!.SslProtocol is SslProtocols.Tls12 or SslProtocols.Tls13);

        // RFC 3207 §4.2: the state from before TLS is gone.
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(503, "5.5.1");
        var after = (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        Assert.DoesNotContain("STARTTLS", after.Texts);
        Assert.Contains("REQUIRETLS", after.Texts);
        (await client.CommandAsync("STARTTLS")).AssertIs(503, "5.5.1");

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250);
        (await client.CommandAsync("DATA")).AssertIs(354);
        (await client.CommandAsync("Subject: secret\r\n\r\nover TLS\r\n.")).AssertIs(250);
        var message = Assert.Single(server.Acceptor.Messages);
        Assert.Contains(" with ESMTPS id ", Encoding.ASCII.GetString(message.Content), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Commands_pipelined_after_STARTTLS_in_plaintext_are_discarded()
    {
        await using var server = await SmtpTestServer.StartAsync(WithCertificate());
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);

        // An attacker on the path appends plaintext commands that must not run inside the encrypted session.
        await client.SendAsync("STARTTLS\r\nMAIL FROM:<injected@evil.test>\r\nRCPT TO:<victim@example.net>\r\n");
        (await client.ReadReplyAsync()).AssertIs(220, "2.0.0");
        await client.UpgradeToTlsAsync();

        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(503, "5.5.1");
    }

    [Fact]
    public async Task REQUIRETLS_on_MAIL_is_refused_in_plaintext_and_recorded_on_the_message_over_TLS()
    {
        await using var server = await SmtpTestServer.StartAsync(WithCertificate());
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<a@example.org> REQUIRETLS")).AssertIs(555, "5.5.4");

        (await client.CommandAsync("STARTTLS")).AssertIs(220);
        await client.UpgradeToTlsAsync();
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<a@example.org> REQUIRETLS")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250);
        (await client.CommandAsync("DATA")).AssertIs(354);
        (await client.CommandAsync("Subject: must stay encrypted\r\n\r\nbody\r\n.")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250);
        (await client.CommandAsync("DATA")).AssertIs(354);
        (await client.CommandAsync("Subject: ordinary\r\n\r\nbody\r\n.")).AssertIs(250);

        Assert.Equal([true, false], server.Acceptor.Messages.Select(m => m.Envelope.RequireTls).ToArray());
    }

    [Fact]
    public async Task RequireTls_refuses_mail_before_STARTTLS_with_530()
    {
        await using var server = await SmtpTestServer.StartAsync(WithCertificate(("RequireTls", "true")));
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(530, "5.7.0");

        (await client.CommandAsync("STARTTLS")).AssertIs(220);
        await client.UpgradeToTlsAsync();
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250);
    }

    [Fact]
    public async Task RequireTls_without_a_certificate_stops_the_start()
    {
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["RequireTls"] = "true" }));
        Assert.Contains("Elemta:Smtp:RequireTls needs TLS", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Implicit_TLS_port_does_the_handshake_before_the_greeting()
    {
        await using var server = await SmtpTestServer.StartAsync(WithCertificate(("ImplicitTlsPort", FreeTcpPort().ToString(System.Globalization.CultureInfo.InvariantCulture))));
        await using var client = await RawSmtpClient.ConnectAsync(server.ImplicitTlsEndPoint);
        await client.UpgradeToTlsAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        var ehlo = (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        Assert.DoesNotContain("STARTTLS", ehlo.Texts);
        Assert.Contains("REQUIRETLS", ehlo.Texts);
    }

    [Fact]
    public async Task Protocols_older_than_TLS_1_2_are_refused()
    {
        await using var server = await SmtpTestServer.StartAsync(WithCertificate());
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        (await client.CommandAsync("STARTTLS")).AssertIs(220);

#pragma warning disable SYSLIB0039 // The point is to offer an obsolete protocol and be refused.
        await Assert.ThrowsAnyAsync<Exception>(() => client.UpgradeToTlsAsync(SslProtocols.Tls11));
#pragma warning restore SYSLIB0039
        Assert.True(await client.DrainUntilClosedAsync(TimeSpan.FromSeconds(10)), "the server kept the connection open after a failed handshake");
    }

    [Fact]
    public async Task The_self_signed_certificate_is_created_once_and_kept_for_the_next_start()
    {
        await using (var first = await SmtpTestServer.StartAsync(WithCertificate()))
        {
            Assert.True(File.Exists(Path.Combine(_certificates, "dev-cert.pem")));
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(_certificates, "dev-key.pem")));
        }

        var written = File.GetLastWriteTimeUtc(Path.Combine(_certificates, "dev-cert.pem"));
        var pem = await File.ReadAllTextAsync(Path.Combine(_certificates, "dev-cert.pem"));
        await using var second = await SmtpTestServer.StartAsync(WithCertificate());
        Assert.Equal(pem, await File.ReadAllTextAsync(Path.Combine(_certificates, "dev-cert.pem")));
        Assert.Equal(written, File.GetLastWriteTimeUtc(Path.Combine(_certificates, "dev-cert.pem")));
    }

    [Fact]
    public async Task A_configured_PEM_certificate_that_cannot_be_read_stops_the_start_naming_the_file()
    {
        var missing = Path.Combine(_certificates, "missing.pem");
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["Tls:CertificatePath"] = missing }));
        Assert.Contains(missing, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MailKit_sends_over_STARTTLS()
    {
        await using var server = await SmtpTestServer.StartAsync(WithCertificate());
        using var client = new MailKit.Net.Smtp.SmtpClient { ServerCertificateValidationCallback = static (_, _, _, _) => true, CheckCertificateRevocation = false };
        await client.ConnectAsync("127.0.0.1", server.Port, MailKit.Security.SecureSocketOptions.StartTls, TestTimeouts.Token());
        Assert.True(client.IsSecure);
        using var message = new MimeKit.MimeMessage();
        message.From.Add(new MimeKit.MailboxAddress("", "a@example.org"));
        message.To.Add(new MimeKit.MailboxAddress("", "b@example.net"));
        message.Subject = "tls";
        message.Body = new MimeKit.TextPart("plain") { Text = "encrypted" };
        await client.SendAsync(message, TestTimeouts.Token());
        await client.DisconnectAsync(true, TestTimeouts.Token());
        Assert.Single(server.Acceptor.Messages);
    }

    private static int FreeTcpPort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
