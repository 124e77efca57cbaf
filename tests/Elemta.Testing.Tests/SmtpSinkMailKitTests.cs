using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Elemta.Testing.Tests;

/// <summary>The sink as the destination of a real, independent SMTP client (MailKit).</summary>
public sealed class SmtpSinkMailKitTests
{
    private static readonly MailboxAddress Sender = new("Sender", "sender@example.org");

    [Fact]
    public async Task Two_messages_over_one_connection_round_trip_byte_exact()
    {
        await using var sink = SmtpSink.Start();
        var first = RawMessage("one", "Hello\r\n.leading dot\r\n..two dots\r\n.\r\nlast line\r\n");
        var second = RawMessage("two", ". \r\n.\r\n\r\nend\r\n");

        using (var client = new SmtpClient { LocalDomain = "client.test" })
        {
            await client.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token());
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.EightBitMime));
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.UTF8));
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.Size));
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.EnhancedStatusCodes));
            Assert.False(client.Capabilities.HasFlag(SmtpCapabilities.StartTLS));
            Assert.False(client.Capabilities.HasFlag(SmtpCapabilities.Authentication));
            Assert.Equal(sink.MaxMessageSize, client.MaxSize);

            await client.SendAsync(Load(first), Sender, [new MailboxAddress("", "rcpt1@example.net")], TestTimeouts.Token());
            await client.SendAsync(
                Load(second),
                Sender,
                [new MailboxAddress("", "rcpt2@example.net"), new MailboxAddress("", "rcpt3@example.net")],
                TestTimeouts.Token());
            await client.DisconnectAsync(quit: true, TestTimeouts.Token());
        }

        await sink.WaitForCountAsync(2, TestTimeouts.Long);
        Assert.Equal(1, sink.ConnectionCount);
        var messages = sink.Messages;
        Assert.Equal(2, messages.Count);

        Assert.Equal("client.test", messages[0].HeloName);
        Assert.Equal("sender@example.org", messages[0].MailFrom);
        Assert.Equal(["rcpt1@example.net"], messages[0].Recipients);
        Assert.Equal(first, Encoding.ASCII.GetString(messages[0].Data));

        Assert.Equal(["rcpt2@example.net", "rcpt3@example.net"], messages[1].Recipients);
        Assert.Equal(Encoding.ASCII.GetBytes(second), messages[1].Data);
        Assert.Empty(sink.Errors);
    }

    [Fact]
    public async Task Recipient_refused_by_OnRecipient_is_reported_to_MailKit_and_left_out_of_the_message()
    {
        await using var sink = SmtpSink.Start();
        sink.OnRecipient = address => address.StartsWith("nobody@", StringComparison.Ordinal)
            ? new SmtpSinkReply(550, "5.1.1 No such user")
            : null;

        using var client = new RecordingSmtpClient();
        await client.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token());
        await client.SendAsync(
            Load(RawMessage("partial", "body\r\n")),
            Sender,
            [new MailboxAddress("", "nobody@example.net"), new MailboxAddress("", "somebody@example.net")],
            TestTimeouts.Token());
        await client.DisconnectAsync(quit: true, TestTimeouts.Token());

        var refused = Assert.Single(client.RefusedRecipients);
        Assert.Equal("nobody@example.net", refused.Mailbox.Address);
        Assert.Equal(SmtpStatusCode.MailboxUnavailable, refused.Response.StatusCode);
        Assert.Contains("5.1.1 No such user", refused.Response.Response, StringComparison.Ordinal);

        var message = await sink.WaitForMessageAsync(_ => true, TestTimeouts.Long);
        Assert.Equal(["somebody@example.net"], message.Recipients);
    }

    [Fact]
    public async Task Only_recipient_refused_makes_the_stock_MailKit_client_throw()
    {
        await using var sink = SmtpSink.Start();
        sink.OnRecipient = _ => new SmtpSinkReply(550, "5.1.1 No such user");

        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token());
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(
            Load(RawMessage("refused", "body\r\n")),
            Sender,
            [new MailboxAddress("", "nobody@example.net")],
            TestTimeouts.Token()));

        Assert.Equal(SmtpErrorCode.RecipientNotAccepted, error.ErrorCode);
        Assert.Equal(SmtpStatusCode.MailboxUnavailable, error.StatusCode);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Data_refused_by_OnData_is_seen_by_MailKit_and_not_recorded()
    {
        await using var sink = SmtpSink.Start();
        var offered = 0;
        sink.OnData = message =>
        {
            Interlocked.Increment(ref offered);
            return Encoding.ASCII.GetString(message.Data).Contains("Subject: spam", StringComparison.Ordinal)
                ? new SmtpSinkReply(554, "5.7.1 Rejected as spam")
                : null;
        };

        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token());
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => client.SendAsync(
            Load(RawMessage("spam", "buy now\r\n")), Sender, [new MailboxAddress("", "a@example.net")], TestTimeouts.Token()));
        Assert.Equal(SmtpErrorCode.MessageNotAccepted, error.ErrorCode);
        Assert.Equal(SmtpStatusCode.TransactionFailed, error.StatusCode);

        // The connection is still usable for the next transaction.
        await client.SendAsync(
            Load(RawMessage("ham", "hello\r\n")), Sender, [new MailboxAddress("", "a@example.net")], TestTimeouts.Token());
        await client.DisconnectAsync(quit: true, TestTimeouts.Token());

        var accepted = Assert.Single(sink.Messages);
        Assert.Contains("Subject: ham", Encoding.ASCII.GetString(accepted.Data), StringComparison.Ordinal);
        Assert.Equal(2, Volatile.Read(ref offered));
    }

    [Fact]
    public async Task ConnectReply_421_fails_the_MailKit_connect()
    {
        await using var sink = SmtpSink.Start();
        sink.ConnectReply = new SmtpSinkReply(421, "4.3.2 Try again later");

        using var client = new SmtpClient();
        var error = await Assert.ThrowsAsync<SmtpCommandException>(() =>
            client.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token()));

        Assert.Equal(SmtpStatusCode.ServiceNotAvailable, error.StatusCode);
        Assert.Equal(1, sink.ConnectionCount);
    }

    [Fact]
    public async Task WaitForMessageAsync_completes_when_a_matching_message_arrives_later()
    {
        await using var sink = SmtpSink.Start();
        var waiting = sink.WaitForMessageAsync(m => m.Recipients.Contains("target@example.net"), TestTimeouts.Long);
        Assert.False(waiting.IsCompleted);

        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token());
        await client.SendAsync(
            Load(RawMessage("other", "x\r\n")), Sender, [new MailboxAddress("", "other@example.net")], TestTimeouts.Token());
        await client.SendAsync(
            Load(RawMessage("target", "y\r\n")), Sender, [new MailboxAddress("", "target@example.net")], TestTimeouts.Token());

        var message = await waiting;
        Assert.Contains("Subject: target", Encoding.ASCII.GetString(message.Data), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Utf8_envelope_and_8bit_body_are_accepted()
    {
        await using var sink = SmtpSink.Start();
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Grüße", "jörg@exämple.org"));
        message.To.Add(new MailboxAddress("", "zoë@exämple.net"));
        message.Subject = "Grüße";
        message.Body = new TextPart("plain") { Text = "Ünïcödé body\r\n" };

        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token());
        await client.SendAsync(message, TestTimeouts.Token());
        await client.DisconnectAsync(quit: true, TestTimeouts.Token());

        var received = Assert.Single(sink.Messages);
        Assert.Equal("jörg@exämple.org", received.MailFrom);
        Assert.Equal(["zoë@exämple.net"], received.Recipients);
        Assert.Equal("Ünïcödé body", MimeMessage.Load(new MemoryStream(received.Data)).TextBody?.TrimEnd());
    }

    [Fact]
    public async Task STARTTLS_with_a_certificate_from_the_test_CA_verifies_and_the_message_records_TLS()
    {
        using var authority = new TestCertificateAuthority();
        await using var sink = SmtpSink.Start();
        sink.ServerCertificate = authority.IssueServerCertificate("mx.example.net");
        sink.AdvertiseRequireTls = true;

        using var client = new SmtpClient { LocalDomain = "client.test" };
        System.Net.Security.SslPolicyErrors? seen = null;
        client.ServerCertificateValidationCallback = (_, certificate, chain, errors) =>
        {
            // Only the test root is trusted: the chain must end there and the name must match.
            using var custom = new System.Security.Cryptography.X509Certificates.X509Chain();
            custom.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
            custom.ChainPolicy.CustomTrustStore.Add(authority.Root);
            custom.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
            seen = errors & ~System.Net.Security.SslPolicyErrors.RemoteCertificateChainErrors;
            return seen == System.Net.Security.SslPolicyErrors.None
                   && custom.Build(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificate(certificate!.GetRawCertData()));
        };
        using var socket = new System.Net.Sockets.Socket(System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        await socket.ConnectAsync(sink.EndPoint, TestTimeouts.Token());
        await client.ConnectAsync(socket, "mx.example.net", sink.Port, SecureSocketOptions.StartTls, TestTimeouts.Token());
        Assert.True(client.IsSecure);
        Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS));
        await client.SendAsync(Load(RawMessage("tls", "secret\r\n")), Sender, [new MailboxAddress("", "rcpt@example.net")], TestTimeouts.Token());
        await client.DisconnectAsync(quit: true, TestTimeouts.Token());

        var message = Assert.Single(sink.Messages);
        Assert.NotNull(message.TlsProtocol);
        Assert.Equal("client.test", message.HeloName);
        Assert.Equal(System.Net.Security.SslPolicyErrors.None, seen);
        Assert.Empty(sink.Errors);
    }

    /// <summary>A complete RFC 5322 message with CRLF line endings and the given body.</summary>
    [Theory]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    public async Task AUTH_with_the_right_credentials_lets_MailKit_send_and_the_message_records_the_user(string mechanism)
    {
        await using var sink = SmtpSink.Start();
        sink.AuthUserName = "relay-user";
        sink.AuthPassword = "s3cret pass";

        using (var client = new SmtpClient { LocalDomain = "client.test" })
        {
            await client.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token());
            Assert.Contains("PLAIN", client.AuthenticationMechanisms);
            Assert.Contains("LOGIN", client.AuthenticationMechanisms);
            client.AuthenticationMechanisms.RemoveWhere(m => m != mechanism);
            await client.AuthenticateAsync("relay-user", "s3cret pass", TestTimeouts.Token());
            await client.SendAsync(Load(RawMessage("auth", "body\r\n")), Sender, [new MailboxAddress("", "rcpt@example.net")], TestTimeouts.Token());
            await client.DisconnectAsync(quit: true, TestTimeouts.Token());
        }

        Assert.Equal("relay-user", Assert.Single(sink.Messages).AuthenticatedAs);
        Assert.Equal(1, sink.AuthAttempts);
        Assert.Equal(1, sink.PlaintextAuthAttempts);
        Assert.Empty(sink.Errors);
    }

    [Fact]
    public async Task AUTH_with_a_wrong_password_gets_535_and_MAIL_without_AUTH_gets_530()
    {
        await using var sink = SmtpSink.Start();
        sink.AuthUserName = "relay-user";
        sink.AuthPassword = "right";
        using var client = new SmtpClient { LocalDomain = "client.test" };
        await client.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token());

        var refused = await Assert.ThrowsAsync<AuthenticationException>(() => client.AuthenticateAsync("relay-user", "wrong", TestTimeouts.Token()));
        // MailKit turns the 530 into its "not authenticated" exception.
        var unauthenticated = await Assert.ThrowsAsync<MailKit.ServiceNotAuthenticatedException>(() =>
            client.SendAsync(Load(RawMessage("x", "y\r\n")), Sender, [new MailboxAddress("", "rcpt@example.net")], TestTimeouts.Token()));

        Assert.Contains("5.7.8", refused.Message, StringComparison.Ordinal);
        Assert.Contains("5.7.0", unauthenticated.Message, StringComparison.Ordinal);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task AuthOnlyOverTls_offers_AUTH_only_after_STARTTLS()
    {
        using var authority = new TestCertificateAuthority();
        await using var sink = SmtpSink.Start();
        sink.ServerCertificate = authority.IssueServerCertificate("localhost");
        sink.AuthUserName = "relay-user";
        sink.AuthPassword = "pw";
        sink.AuthOnlyOverTls = true;
        using var plain = new SmtpClient { LocalDomain = "client.test" };
        using var secure = new SmtpClient { LocalDomain = "client.test", ServerCertificateValidationCallback = (_, _, _, _) => true };

        await plain.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.None, TestTimeouts.Token());
        await secure.ConnectAsync("127.0.0.1", sink.Port, SecureSocketOptions.StartTls, TestTimeouts.Token());

        Assert.False(plain.Capabilities.HasFlag(SmtpCapabilities.Authentication));
        Assert.True(secure.Capabilities.HasFlag(SmtpCapabilities.Authentication));
        await secure.AuthenticateAsync("relay-user", "pw", TestTimeouts.Token());
        Assert.Equal(0, sink.PlaintextAuthAttempts);
    }

    private static string RawMessage(string subject, string body) =>
        "From: Sender <sender@example.org>\r\n" +
        "To: rcpt@example.net\r\n" +
        $"Subject: {subject}\r\n" +
        "Date: Mon, 24 Nov 2025 12:00:00 +0000\r\n" +
        $"Message-Id: <{subject}@example.org>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=us-ascii\r\n" +
        "\r\n" +
        body;

    private static MimeMessage Load(string raw) => MimeMessage.Load(new MemoryStream(Encoding.ASCII.GetBytes(raw)));

    /// <summary>Collects refused recipients instead of throwing, so delivery goes on to the others.</summary>
    private sealed class RecordingSmtpClient : SmtpClient
    {
        public List<(MailboxAddress Mailbox, SmtpResponse Response)> RefusedRecipients { get; } = [];

        protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response) =>
            RefusedRecipients.Add((mailbox, response));
    }
}
