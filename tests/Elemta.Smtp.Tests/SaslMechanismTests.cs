using System.Net;
using System.Text;
using Elemta.Auth;
using Elemta.Contracts;
using Elemta.Smtp.Sasl;
using MailKit.Security;

namespace Elemta.Smtp.Tests;

/// <summary>
/// The SASL mechanisms as state machines without a session or a socket, each driven by an independent client:
/// MailKit's SASL implementations compute the responses, so a mechanism that only agrees with itself fails here.
/// </summary>
public sealed class SaslMechanismTests
{
    private static readonly CredentialOptions Fast = new() { PasswordIterations = CredentialOptions.MinPasswordIterations };
    private readonly TestUserStore _users = new();

    public SaslMechanismTests() => _users.Add("alice", "correct horse");

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    [InlineData("CRAM-MD5")]
    [InlineData("SCRAM-SHA-256")]
    public async Task MailKits_client_authenticates_with_the_right_password(string name)
    {
        var step = await RunAsync(name, "correct horse");
        Assert.Equal(SaslStepKind.Authenticated, step.Kind);
        Assert.Equal("alice", step.Account!.Name);
    }

    [Theory]
    [InlineData("PLAIN")]
    [InlineData("LOGIN")]
    [InlineData("CRAM-MD5")]
    [InlineData("SCRAM-SHA-256")]
    public async Task A_wrong_password_fails_and_names_the_user_for_the_failure_limiter(string name)
    {
        var step = await RunAsync(name, "wrong");
        Assert.Equal(SaslStepKind.Failed, step.Kind);
        Assert.Equal("alice", step.User);
    }

    [Fact]
    public async Task Malformed_responses_are_malformed_not_failures()
    {
        Assert.Equal(SaslStepKind.Malformed, (await Mechanism("PLAIN").StartAsync("no separators"u8.ToArray())).Kind);
        Assert.Equal(SaslStepKind.Malformed, (await Mechanism("CRAM-MD5").StartAsync([])).Kind);
        Assert.Equal(SaslStepKind.Malformed, (await Mechanism("SCRAM-SHA-256").StartAsync("p=tls-unique,,n=alice,r=x"u8.ToArray())).Kind);
        var login = Mechanism("LOGIN");
        Assert.Equal(SaslStepKind.Challenge, (await login.StartAsync([0xff, 0xfe])).Kind); // the name, not yet checked
        Assert.Equal(SaslStepKind.Malformed, (await login.ContinueAsync("password"u8.ToArray())).Kind); // ... is not UTF-8
    }

    private Sasl.SaslMechanism Mechanism(string name) => Sasl.SaslMechanism.Create(name, new SaslContext(
        _users, static _ => ValueTask.FromResult(true), Passwords.Decoy(Fast), new byte[32], "mx.test", TimeProvider.System, IPAddress.Loopback, CancellationToken.None));

    /// <summary>Runs the exchange between MailKit's client mechanism and ours, as the session would relay it.</summary>
    private async Task<SaslStep> RunAsync(string name, string password)
    {
        var credential = new NetworkCredential("alice", password);
        MailKit.Security.SaslMechanism client = name switch
        {
            "PLAIN" => new SaslMechanismPlain(credential),
            "LOGIN" => new SaslMechanismLogin(credential),
            "CRAM-MD5" => new SaslMechanismCramMd5(credential),
            _ => new SaslMechanismScramSha256(credential),
        };
        var server = Mechanism(name);
        var step = await server.StartAsync(client.SupportsInitialResponse ? Convert.FromBase64String(client.Challenge(null)) : null);
        for (var round = 0; step.Kind == SaslStepKind.Challenge && round < 5; round++)
        {
            var response = client.Challenge(Convert.ToBase64String(step.Challenge!));
            step = await server.ContinueAsync(Convert.FromBase64String(response));
        }

        return step;
    }
}
