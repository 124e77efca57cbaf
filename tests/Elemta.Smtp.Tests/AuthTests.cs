using System.Net;
using System.Security.Cryptography;
using System.Text;
using Elemta.Contracts;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.DependencyInjection;
using MimeKit;

namespace Elemta.Smtp.Tests;

// HMAC-MD5 computes the test's own CRAM-MD5 answers, as a client would.
#pragma warning disable CA5351

/// <summary>
/// SMTP AUTH (RFC 4954) against MailKit, swaks and a raw client: every mechanism, wrong passwords, replayed CRAM-MD5
/// challenges, forged SCRAM proofs, lockout, and what authentication permits (relay, senders). The client at
/// 127.0.0.1 is made an outsider (TrustedNetworks is TEST-NET-1), so only AUTH lets it relay.
/// </summary>
public sealed class AuthTests : IDisposable
{
    private const string User = "alice@example.org";
    private const string Password = "correct horse battery staple";

    private readonly string _certificates = Path.Combine(Path.GetTempPath(), "elemta-auth-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_certificates))
        {
            Directory.Delete(_certificates, recursive: true);
        }
    }

    private static Dictionary<string, string?> Outsider(params (string Key, string Value)[] more)
    {
        var settings = new Dictionary<string, string?>
        {
            ["TrustedNetworks:0"] = "192.0.2.0/24",
            ["RelayDomains:0"] = "local.test",
        };
        foreach (var (key, value) in more)
        {
            settings[key] = value;
        }

        return settings;
    }

    private Dictionary<string, string?> OutsiderWithTls(params (string Key, string Value)[] more) =>
        Outsider([("Tls:SelfSignedDirectory", _certificates), .. more]);

    private static async Task<(SmtpTestServer Server, TestUserStore Users)> StartAsync(Dictionary<string, string?> settings, TestAuthFailureLimiter? limiter = null)
    {
        var users = new TestUserStore();
        users.Add(User, Password);
        var server = await SmtpTestServer.StartAsync(settings, users: users, authFailures: limiter);
        return (server, users);
    }

    public static TheoryData<string> EveryMechanism => new() { "SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN" };

    private static SaslMechanism Mechanism(string name, string user, string password)
    {
        var credentials = new NetworkCredential(user, password);
        return name switch
        {
            "SCRAM-SHA-256" => new SaslMechanismScramSha256(credentials),
            "CRAM-MD5" => new SaslMechanismCramMd5(credentials),
            "PLAIN" => new SaslMechanismPlain(credentials),
            _ => new SaslMechanismLogin(credentials),
        };
    }

    private static SmtpClient MailKitClient() => new()
    {
        LocalDomain = "mailkit.test",
        ServerCertificateValidationCallback = static (_, _, _, _) => true,
        CheckCertificateRevocation = false,
    };

    private static MimeMessage Message(string subject)
    {
        var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(User));
        message.To.Add(MailboxAddress.Parse("bob@example.net"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "hello" };
        return message;
    }

    [Theory]
    [MemberData(nameof(EveryMechanism))]
    public async Task MailKit_authenticates_with_each_mechanism_over_STARTTLS_and_may_then_relay(string mechanism)
    {
        var (server, _) = await StartAsync(OutsiderWithTls());
        await using (server)
        {
            using var smtp = MailKitClient();
            await smtp.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.StartTls, TestTimeouts.Token());
            Assert.Contains(mechanism, smtp.AuthenticationMechanisms);

            await smtp.AuthenticateAsync(Mechanism(mechanism, User, Password), TestTimeouts.Token());
            var reply = await smtp.SendAsync(Message($"via {mechanism}"), TestTimeouts.Token());
            await smtp.DisconnectAsync(quit: true, TestTimeouts.Token());

            Assert.Contains("queued as", reply, StringComparison.Ordinal);
            var accepted = Assert.Single(server.Acceptor.Messages);
            Assert.Equal<string>(["bob@example.net"], accepted.Envelope.Recipients);
            // RFC 3848: authenticated over TLS.
            Assert.Contains(" with ESMTPSA id ", Encoding.ASCII.GetString(accepted.Content), StringComparison.Ordinal);
            Assert.Empty(server.SessionFailures);
        }
    }

    [Theory]
    [MemberData(nameof(EveryMechanism))]
    public async Task A_wrong_password_gets_535_5_7_8_with_each_mechanism_and_counts_as_a_failure(string mechanism)
    {
        var (server, _) = await StartAsync(OutsiderWithTls());
        await using (server)
        {
            using var smtp = MailKitClient();
            await smtp.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.StartTls, TestTimeouts.Token());

            var error = await Assert.ThrowsAsync<AuthenticationException>(() => smtp.AuthenticateAsync(Mechanism(mechanism, User, "wrong password!"), TestTimeouts.Token()));

            Assert.Contains("5.7.8", error.Message, StringComparison.Ordinal);
            Assert.Equal(1, server.AuthFailures.FailuresOf("user:" + User));
            Assert.Equal(1, server.AuthFailures.FailuresOf("ip:127.0.0.1"));
            // Still unauthenticated: no relay.
            var refused = await Assert.ThrowsAsync<SmtpCommandException>(() => smtp.SendAsync(Message("no"), TestTimeouts.Token()));
            Assert.Equal(SmtpStatusCode.TransactionFailed, refused.StatusCode);
        }
    }

    [Theory]
    [InlineData("SCRAM-SHA-256")]
    [InlineData("CRAM-MD5")]
    public async Task Challenge_response_mechanisms_work_without_TLS(string mechanism)
    {
        var (server, _) = await StartAsync(Outsider());
        await using (server)
        {
            using var smtp = MailKitClient();
            await smtp.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, TestTimeouts.Token());
            Assert.DoesNotContain("PLAIN", smtp.AuthenticationMechanisms);
            Assert.DoesNotContain("LOGIN", smtp.AuthenticationMechanisms);

            await smtp.AuthenticateAsync(Mechanism(mechanism, User, Password), TestTimeouts.Token());
            await smtp.SendAsync(Message("clear"), TestTimeouts.Token());

            Assert.Contains(" with ESMTPA id ", Encoding.ASCII.GetString(Assert.Single(server.Acceptor.Messages).Content), StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task PLAIN_and_LOGIN_before_STARTTLS_get_538_5_7_11_and_are_offered_once_TLS_is_up()
    {
        var (server, _) = await StartAsync(OutsiderWithTls());
        await using (server)
        {
            await using var client = await server.ConnectAsync();
            (await client.ReadReplyAsync()).AssertIs(220);
            var ehlo = (await client.CommandAsync("EHLO client.test")).AssertIs(250);
            Assert.Contains("AUTH SCRAM-SHA-256 CRAM-MD5", ehlo.Texts);

            var plain = Convert.ToBase64String(Encoding.UTF8.GetBytes($"\0{User}\0{Password}"));
            (await client.CommandAsync($"AUTH PLAIN {plain}")).AssertIs(538, "5.7.11");
            (await client.CommandAsync("AUTH LOGIN")).AssertIs(538, "5.7.11");

            (await client.CommandAsync("STARTTLS")).AssertIs(220);
            await client.UpgradeToTlsAsync();
            var secure = (await client.CommandAsync("EHLO client.test")).AssertIs(250);
            Assert.Contains("AUTH SCRAM-SHA-256 CRAM-MD5 PLAIN LOGIN", secure.Texts);
            (await client.CommandAsync($"AUTH PLAIN {plain}")).AssertIs(235, "2.7.0");
        }
    }

    [Fact]
    public async Task AllowPlaintextAuth_offers_PLAIN_and_LOGIN_without_TLS()
    {
        var (server, _) = await StartAsync(Outsider(("AllowPlaintextAuth", "true")));
        await using (server)
        {
            await using var client = await server.ConnectAndEhloAsync();
            Assert.Equal("Username:", Encoding.ASCII.GetString(Convert.FromBase64String((await client.CommandAsync("AUTH LOGIN")).AssertIs(334).Text)));
            Assert.Equal("Password:", Encoding.ASCII.GetString(Convert.FromBase64String((await client.CommandAsync(B64(User))).AssertIs(334).Text)));
            (await client.CommandAsync(B64(Password))).AssertIs(235, "2.7.0");
        }
    }

    [Fact]
    public async Task A_replayed_CRAM_MD5_response_fails_because_every_challenge_is_new()
    {
        var (server, _) = await StartAsync(Outsider());
        await using (server)
        {
            string firstChallenge, firstResponse;
            await using (var client = await server.ConnectAndEhloAsync())
            {
                var challenge = (await client.CommandAsync("AUTH CRAM-MD5")).AssertIs(334);
                firstChallenge = Encoding.ASCII.GetString(Convert.FromBase64String(challenge.Text));
                Assert.Matches(@"^<[0-9a-f]+\.\d+@mx\.test>$", firstChallenge);
                firstResponse = CramResponse(User, Password, firstChallenge);
                (await client.CommandAsync(firstResponse)).AssertIs(235, "2.7.0");
            }

            await using (var replay = await server.ConnectAndEhloAsync())
            {
                var challenge = (await replay.CommandAsync("AUTH CRAM-MD5")).AssertIs(334);
                Assert.NotEqual(firstChallenge, Encoding.ASCII.GetString(Convert.FromBase64String(challenge.Text)));
                (await replay.CommandAsync(firstResponse)).AssertIs(535, "5.7.8");
                (await replay.CommandAsync("MAIL FROM:<alice@example.org>")).AssertIs(250);
                (await replay.CommandAsync("RCPT TO:<bob@example.net>")).AssertIs(554, "5.7.1");
            }
        }
    }

    [Fact]
    public async Task SCRAM_with_a_forged_proof_or_a_changed_nonce_gets_535()
    {
        var (server, _) = await StartAsync(Outsider());
        await using (server)
        {
            // A correct proof with one bit flipped.
            await using (var client = await server.ConnectAndEhloAsync())
            {
                var (clientFinal, _) = await ScramUpToFinalAsync(client, Password);
                var proof = Convert.FromBase64String(clientFinal[(clientFinal.LastIndexOf(",p=", StringComparison.Ordinal) + 3)..]);
                proof[5] ^= 0x10;
                var forged = clientFinal[..(clientFinal.LastIndexOf(",p=", StringComparison.Ordinal) + 3)] + Convert.ToBase64String(proof);
                (await client.CommandAsync(B64(forged))).AssertIs(535, "5.7.8");
            }

            // A proof computed with the wrong password.
            await using (var client = await server.ConnectAndEhloAsync())
            {
                var (clientFinal, _) = await ScramUpToFinalAsync(client, "not the password");
                (await client.CommandAsync(B64(clientFinal))).AssertIs(535, "5.7.8");
            }

            // A right proof, but for a nonce the server did not issue (r= must be the server's combined nonce).
            await using (var client = await server.ConnectAndEhloAsync())
            {
                var (_, serverFirst) = await ScramUpToFinalAsync(client, Password);
                var tampered = ScramClientFinal("n=" + User + ",r=clientnonce", serverFirst.Replace("r=clientnonce", "r=clientnonceX", StringComparison.Ordinal), Password);
                (await client.CommandAsync(B64(tampered))).AssertIs(535, "5.7.8");
            }

            // And the genuine exchange works, ending with the server's signature.
            await using (var client = await server.ConnectAndEhloAsync())
            {
                var (clientFinal, serverFirst) = await ScramUpToFinalAsync(client, Password);
                var serverFinal = Encoding.ASCII.GetString(Convert.FromBase64String((await client.CommandAsync(B64(clientFinal))).AssertIs(334).Text));
                Assert.Equal("v=" + ScramServerSignature("n=" + User + ",r=clientnonce", serverFirst, clientFinal, Password), serverFinal);
                (await client.CommandAsync(string.Empty)).AssertIs(235, "2.7.0");
            }

            Assert.Equal(3, server.AuthFailures.FailuresOf("user:" + User));
        }
    }

    [Fact]
    public async Task After_the_failure_limit_even_the_right_password_gets_454_4_7_0()
    {
        var (server, _) = await StartAsync(Outsider(), new TestAuthFailureLimiter(maxFailures: 3));
        await using (server)
        {
            await using var client = await server.ConnectAndEhloAsync();
            for (var i = 0; i < 3; i++)
            {
                (await client.CommandAsync("AUTH CRAM-MD5")).AssertIs(334);
                (await client.CommandAsync(B64($"{User} 00000000000000000000000000000000"))).AssertIs(535, "5.7.8");
            }

            (await client.CommandAsync("AUTH SCRAM-SHA-256 " + B64($"n,,n={User},r=clientnonce"))).AssertIs(454, "4.7.0");
            (await client.CommandAsync("AUTH CRAM-MD5")).AssertIs(454, "4.7.0");
            Assert.Contains(server.Logs, e => e.Message.Contains("too many failed attempts", StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task The_lockout_is_the_auth_lockout_plugin_with_it_disabled_failures_are_neither_counted_nor_refused()
    {
        var limiter = new TestAuthFailureLimiter(maxFailures: 1);
        var (server, _) = await StartAsync(Outsider(("Elemta:Plugins:Items:auth-lockout:Enabled", "false"), ("AllowPlaintextAuth", "true")), limiter);
        await using (server)
        {
            await using var client = await server.ConnectAndEhloAsync();
            for (var i = 0; i < 2; i++)
            {
                (await client.CommandAsync("AUTH CRAM-MD5")).AssertIs(334);
                (await client.CommandAsync(B64($"{User} 00000000000000000000000000000000"))).AssertIs(535, "5.7.8");
            }

            Assert.Equal(0, limiter.FailuresOf("user:" + User));
            Assert.Equal(0, limiter.FailuresOf("ip:127.0.0.1"));
            (await client.CommandAsync("AUTH PLAIN " + B64($"\0{User}\0{Password}"))).AssertIs(235, "2.7.0");
        }
    }

    [Fact]
    public async Task Failure_counts_that_cannot_be_read_answer_454_4_7_0_temporary_failure_before_any_password_is_checked()
    {
        var users = new TestUserStore();
        users.Add(User, Password);
        await using var server = await SmtpTestServer.StartAsync(Outsider(("AllowPlaintextAuth", "true")), users: users,
            services: s => s.AddSingleton<Elemta.Auth.IAuthFailureLimiter>(new UnavailableAuthFailureLimiter()));
        await using var client = await server.ConnectAndEhloAsync();

        var reply = (await client.CommandAsync("AUTH PLAIN " + B64($"\0{User}\0{Password}"))).AssertIs(454, "4.7.0");
        Assert.Equal("4.7.0 Temporary authentication failure", reply.Text);
        Assert.Contains(server.Logs, e => e.Message.Contains("AUTH failure counts for", StringComparison.Ordinal));
    }

    /// <summary>An <see cref="Elemta.Auth.IAuthFailureLimiter"/> whose grains cannot be reached.</summary>
    private sealed class UnavailableAuthFailureLimiter : Elemta.Auth.IAuthFailureLimiter
    {
        public Task<(bool Allowed, TimeSpan RetryAfter)> CheckAsync(IPAddress client, string? user, CancellationToken cancellationToken) =>
            throw new TimeoutException("test limiter: the cluster is unavailable");

        public Task RecordFailureAsync(IPAddress client, string? user, CancellationToken cancellationToken) =>
            throw new TimeoutException("test limiter: the cluster is unavailable");
    }

    [Fact]
    public async Task An_unknown_user_fails_like_a_wrong_password()
    {
        var (server, _) = await StartAsync(Outsider(("AllowPlaintextAuth", "true")));
        await using (server)
        {
            await using var client = await server.ConnectAndEhloAsync();
            (await client.CommandAsync("AUTH PLAIN " + B64($"\0nobody@example.org\0{Password}"))).AssertIs(535, "5.7.8");
            // SCRAM still answers with a salt and iterations, so the exchange does not say the account is missing.
            var first = (await client.CommandAsync("AUTH SCRAM-SHA-256 " + B64("n,,n=nobody@example.org,r=abc"))).AssertIs(334);
            Assert.Matches("^r=abc.+,s=.+,i=4096$", Encoding.ASCII.GetString(Convert.FromBase64String(first.Text)));
            (await client.CommandAsync("*")).AssertIs(501, "5.0.0");
        }
    }

    [Fact]
    public async Task The_right_password_of_an_account_without_the_sender_role_is_refused()
    {
        var (server, users) = await StartAsync(Outsider(("AllowPlaintextAuth", "true")));
        await using (server)
        {
            users.Add("viewer", Password, roles: [UserRole.Viewer, UserRole.Operator]);
            await using var client = await server.ConnectAndEhloAsync();

            (await client.CommandAsync("AUTH PLAIN " + B64($"\0viewer\0{Password}"))).AssertIs(535, "5.7.8");
        }
    }

    [Fact]
    public async Task AUTH_protocol_errors_are_answered_per_RFC_4954()
    {
        var (server, users) = await StartAsync(Outsider(("AllowPlaintextAuth", "true")));
        await using (server)
        {
            await using (var helo = await server.ConnectAsync())
            {
                (await helo.ReadReplyAsync()).AssertIs(220);
                (await helo.CommandAsync("HELO client.test")).AssertIs(250);
                (await helo.CommandAsync("AUTH PLAIN")).AssertIs(503, "5.5.1");
            }

            await using var client = await server.ConnectAndEhloAsync();
            (await client.CommandAsync("AUTH")).AssertIs(501, "5.5.4");
            (await client.CommandAsync("AUTH GSSAPI")).AssertIs(504, "5.5.4");
            (await client.CommandAsync("AUTH PLAIN !!!notbase64")).AssertIs(501, "5.5.2");
            (await client.CommandAsync("AUTH PLAIN")).AssertIs(334);
            (await client.CommandAsync("*")).AssertIs(501, "5.0.0");
            (await client.CommandAsync("AUTH PLAIN " + B64("only-one-field"))).AssertIs(501, "5.5.2");
            // Acting as another account is not allowed.
            users.Add("bob@example.org", Password);
            (await client.CommandAsync("AUTH PLAIN " + B64($"bob@example.org\0{User}\0{Password}"))).AssertIs(535, "5.7.8");

            (await client.CommandAsync("MAIL FROM:<alice@example.org>")).AssertIs(250);
            (await client.CommandAsync("AUTH PLAIN " + B64($"\0{User}\0{Password}"))).AssertIs(503, "5.5.1");
            (await client.CommandAsync("RSET")).AssertIs(250);
            (await client.CommandAsync("AUTH PLAIN " + B64($"\0{User}\0{Password}"))).AssertIs(235, "2.7.0");
            (await client.CommandAsync("AUTH PLAIN " + B64($"\0{User}\0{Password}"))).AssertIs(503, "5.5.1");
            // RFC 4954 §5: the AUTH parameter of MAIL is accepted once AUTH is offered.
            (await client.CommandAsync("MAIL FROM:<alice@example.org> AUTH=<>")).AssertIs(250, "2.1.0");
        }
    }

    [Fact]
    public async Task When_the_accounts_cannot_be_read_AUTH_gets_454_and_the_session_goes_on()
    {
        var (server, users) = await StartAsync(Outsider(("AllowPlaintextAuth", "true")));
        await using (server)
        {
            users.Fail = true;
            await using var client = await server.ConnectAndEhloAsync();

            (await client.CommandAsync("AUTH PLAIN " + B64($"\0{User}\0{Password}"))).AssertIs(454, "4.7.0");
            (await client.CommandAsync("NOOP")).AssertIs(250);
            Assert.Equal(0, server.AuthFailures.FailuresOf("user:" + User));
        }
    }

    [Fact]
    public async Task Neither_the_password_nor_the_SASL_payload_is_logged()
    {
        var (server, _) = await StartAsync(Outsider(("AllowPlaintextAuth", "true")));
        await using (server)
        {
            var payload = B64($"\0{User}\0{Password}");
            await using (var client = await server.ConnectAndEhloAsync())
            {
                (await client.CommandAsync("AUTH PLAIN " + B64($"\0{User}\0wrong-password-canary"))).AssertIs(535);
                (await client.CommandAsync("AUTH PLAIN " + payload)).AssertIs(235);
                (await client.CommandAsync("QUIT")).AssertIs(221);
            }

            Assert.Contains(server.Logs, e => e.Message.Contains($"authenticated as {User} with PLAIN", StringComparison.Ordinal));
            Assert.Contains(server.Logs, e => e.Message.Contains($"failed to authenticate as {User}", StringComparison.Ordinal));
            Assert.DoesNotContain(server.Logs, e => e.Message.Contains(Password, StringComparison.Ordinal) || e.Message.Contains("canary", StringComparison.Ordinal) || e.Message.Contains(payload, StringComparison.Ordinal));
        }
    }

    [Fact]
    public async Task An_authenticated_sender_may_use_only_the_addresses_its_account_allows()
    {
        var (server, users) = await StartAsync(Outsider(("AllowPlaintextAuth", "true")));
        await using (server)
        {
            users.Add("app", Password, allowedSenders: ["noreply@example.net", "@example.com"]);
            await using (var alice = await server.ConnectAndEhloAsync())
            {
                (await alice.CommandAsync("AUTH PLAIN " + B64($"\0{User}\0{Password}"))).AssertIs(235);
                (await alice.CommandAsync("MAIL FROM:<bob@example.org>")).AssertIs(553, "5.7.1");
                (await alice.CommandAsync("MAIL FROM:<>")).AssertIs(553, "5.7.1");
                (await alice.CommandAsync("MAIL FROM:<Alice@Example.org>")).AssertIs(250, "2.1.0");
            }

            await using var app = await server.ConnectAndEhloAsync();
            (await app.CommandAsync("AUTH PLAIN " + B64($"\0app\0{Password}"))).AssertIs(235);
            (await app.CommandAsync("MAIL FROM:<app@example.org>")).AssertIs(553, "5.7.1");
            (await app.CommandAsync("MAIL FROM:<anyone@example.com>")).AssertIs(250);
            (await app.CommandAsync("RSET")).AssertIs(250);
            (await app.CommandAsync("MAIL FROM:<noreply@example.net>")).AssertIs(250);
        }
    }

    [Fact]
    public async Task RestrictSenders_false_lets_an_authenticated_client_use_any_sender()
    {
        var (server, _) = await StartAsync(Outsider(("AllowPlaintextAuth", "true"), ("RestrictSenders", "false")));
        await using (server)
        {
            await using var client = await server.ConnectAndEhloAsync();
            (await client.CommandAsync("AUTH PLAIN " + B64($"\0{User}\0{Password}"))).AssertIs(235);
            (await client.CommandAsync("MAIL FROM:<someone@else.example>")).AssertIs(250);
        }
    }

    [Fact]
    public async Task The_submission_port_requires_AUTH_before_MAIL_and_then_relays()
    {
        // SubmissionPort 0 means no listener, so the test picks a free loopback port.
        var port = FreeTcpPort.Get();
        var (server, _) = await StartAsync(OutsiderWithTls(("SubmissionPort", port.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        await using (server)
        {
            // Even from a trusted address: TrustedNetworks does not waive AUTH on the submission port.
            await using (var raw = await server.ConnectSubmissionAsync())
            {
                (await raw.ReadReplyAsync()).AssertIs(220);
                (await raw.CommandAsync("EHLO client.test")).AssertIs(250);
                (await raw.CommandAsync("MAIL FROM:<alice@example.org>")).AssertIs(530, "5.7.0");
            }

            using var smtp = MailKitClient();
            await smtp.ConnectAsync("127.0.0.1", port, SecureSocketOptions.StartTls, TestTimeouts.Token());
            await smtp.AuthenticateAsync(Mechanism("PLAIN", User, Password), TestTimeouts.Token());
            var reply = await smtp.SendAsync(Message("submitted"), TestTimeouts.Token());
            await smtp.DisconnectAsync(quit: true, TestTimeouts.Token());
            Assert.Contains("queued as", reply, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task With_AuthRequired_false_the_submission_port_follows_the_relay_rules_of_port_25()
    {
        var port = FreeTcpPort.Get();
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?>
        {
            ["SubmissionPort"] = port.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["AuthRequired"] = "false",
        });
        await using var client = await server.ConnectSubmissionAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250);
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250); // loopback is trusted by default
    }

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    [InlineData("CRAM-MD5")]
    public async Task Swaks_authenticates_and_relays(string mechanism)
    {
        Assert.True(File.Exists("/usr/bin/swaks"), "swaks is required (apt-get install swaks; .ci/run installs it)");
        var (server, _) = await StartAsync(OutsiderWithTls());
        await using (server)
        {
            List<string> arguments = ["--server", $"127.0.0.1:{server.Port}", "--helo", "swaks.test", "--from", User, "--to", "bob@example.net",
                "--auth", mechanism, "--auth-user", User, "--auth-password", Password, "--header", $"Subject: swaks {mechanism}"];
            if (mechanism != "CRAM-MD5")
            {
                arguments.Add("--tls");
            }

            var (exitCode, stdout, stderr) = await ExternalProcess.RunAsync("/usr/bin/swaks", arguments);

            Assert.True(exitCode == 0, stdout + stderr);
            Assert.Contains("235 2.7.0 Authentication successful", stdout, StringComparison.Ordinal);
            Assert.Equal<string>(["bob@example.net"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients);
        }
    }

    [Fact]
    public async Task Swaks_with_a_wrong_password_is_refused()
    {
        var (server, _) = await StartAsync(Outsider());
        await using (server)
        {
            var (exitCode, stdout, _) = await ExternalProcess.RunAsync("/usr/bin/swaks",
                ["--server", $"127.0.0.1:{server.Port}", "--helo", "swaks.test", "--from", User, "--to", "bob@example.net",
                 "--auth", "CRAM-MD5", "--auth-user", User, "--auth-password", "wrong password"]);

            Assert.NotEqual(0, exitCode);
            Assert.Contains("535 5.7.8", stdout, StringComparison.Ordinal);
            Assert.Empty(server.Acceptor.Messages);
        }
    }

    private static string B64(string text) => Convert.ToBase64String(Encoding.UTF8.GetBytes(text));

    private static string CramResponse(string user, string password, string challenge) =>
        B64($"{user} {Convert.ToHexStringLower(HMACMD5.HashData(Encoding.UTF8.GetBytes(password), Encoding.ASCII.GetBytes(challenge)))}");

    /// <summary>Runs AUTH SCRAM-SHA-256 up to the client-final message (client nonce "clientnonce"), computed as a client does.</summary>
    private static async Task<(string ClientFinal, string ServerFirst)> ScramUpToFinalAsync(RawSmtpClient client, string password)
    {
        const string bare = "n=" + User + ",r=clientnonce";
        var serverFirst = Encoding.UTF8.GetString(Convert.FromBase64String((await client.CommandAsync("AUTH SCRAM-SHA-256 " + B64("n,," + bare))).AssertIs(334).Text));
        Assert.StartsWith("r=clientnonce", serverFirst, StringComparison.Ordinal);
        return (ScramClientFinal(bare, serverFirst, password), serverFirst);
    }

    private static (byte[] Salted, string WithoutProof) ScramKeys(string serverFirst, string password)
    {
        var fields = serverFirst.Split(',').ToDictionary(f => f[..1], f => f[2..]);
        var salted = Rfc2898DeriveBytes.Pbkdf2(Encoding.UTF8.GetBytes(password), Convert.FromBase64String(fields["s"]), int.Parse(fields["i"], System.Globalization.CultureInfo.InvariantCulture), HashAlgorithmName.SHA256, 32);
        return (salted, $"c=biws,r={fields["r"]}");
    }

    private static string ScramClientFinal(string bare, string serverFirst, string password)
    {
        var (salted, withoutProof) = ScramKeys(serverFirst, password);
        var clientKey = HMACSHA256.HashData(salted, "Client Key"u8);
        var signature = HMACSHA256.HashData(SHA256.HashData(clientKey), Encoding.UTF8.GetBytes($"{bare},{serverFirst},{withoutProof}"));
        var proof = clientKey.Zip(signature, (a, b) => (byte)(a ^ b)).ToArray();
        return $"{withoutProof},p={Convert.ToBase64String(proof)}";
    }

    private static string ScramServerSignature(string bare, string serverFirst, string clientFinal, string password)
    {
        var (salted, _) = ScramKeys(serverFirst, password);
        var withoutProof = clientFinal[..clientFinal.LastIndexOf(",p=", StringComparison.Ordinal)];
        return Convert.ToBase64String(HMACSHA256.HashData(HMACSHA256.HashData(salted, "Server Key"u8), Encoding.UTF8.GetBytes($"{bare},{serverFirst},{withoutProof}")));
    }
}

/// <summary>A free TCP port on 127.0.0.1 for a listener whose port must be known before it starts.</summary>
internal static class FreeTcpPort
{
    public static int Get()
    {
        using var listener = new System.Net.Sockets.TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
