using System.Net;
using System.Text;
using Elemta.Auth;
using Elemta.Contracts;

namespace Elemta.Smtp.Sasl;

/// <summary>What one step of a SASL exchange comes to.</summary>
internal enum SaslStepKind
{
    /// <summary>The server sends <see cref="SaslStep.Challenge"/> (a 334) and waits for the client's response.</summary>
    Challenge,

    /// <summary>The credentials are right for <see cref="SaslStep.Account"/> (whether it may send mail is the session's rule).</summary>
    Authenticated,

    /// <summary>The credentials are wrong, or name no account.</summary>
    Failed,

    /// <summary>The client's data does not follow the mechanism's syntax.</summary>
    Malformed,

    /// <summary>The name has failed too often recently and may not try now.</summary>
    LockedOut,
}

/// <summary>One step of a SASL exchange; <see cref="User"/> is the name the client gave, once known (for the failure limiter and the log).</summary>
internal readonly record struct SaslStep(SaslStepKind Kind, byte[]? Challenge = null, string? User = null, UserAccount? Account = null)
{
    public static SaslStep Send(byte[] challenge, string? user = null) => new(SaslStepKind.Challenge, challenge, user);

    public static SaslStep Fail(string? user) => new(SaslStepKind.Failed, User: user);

    public static SaslStep Bad(string? user = null) => new(SaslStepKind.Malformed, User: user);
}

/// <summary>
/// What a mechanism may ask of the server: accounts, whether a name may try now (the session's AUTH request hooks, where
/// the auth-lockout plugin answers) and the per-process secrets.
/// </summary>
internal sealed record SaslContext(
    IUserStore Users,
    Func<string, ValueTask<bool>> MayTry,
    PasswordHash DecoyPassword,
    byte[] DecoySecret,
    string HostName,
    TimeProvider TimeProvider,
    IPAddress Client,
    CancellationToken CancellationToken)
{
    /// <summary>Whether <paramref name="name"/> may try now (the address was asked about before the exchange began).</summary>
    public ValueTask<bool> MayTryAsync(string name) => MayTry(name);
}

/// <summary>
/// The server side of one SASL mechanism (RFC 4422) as a state machine apart from the transport: the session turns
/// each <see cref="SaslStepKind.Challenge"/> into a 334 line and hands back the decoded response, so a mechanism can be
/// driven (and fuzzed) without a connection. One instance serves one exchange.
/// </summary>
internal abstract class SaslMechanism(SaslContext context)
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    protected SaslContext Context { get; } = context;

    /// <summary>The mechanisms Elemta implements, by their IANA names.</summary>
    public static SaslMechanism Create(string name, SaslContext context) => name switch
    {
        "PLAIN" => new PlainMechanism(context),
        "LOGIN" => new LoginMechanism(context),
        "CRAM-MD5" => new CramMd5Mechanism(context),
        "SCRAM-SHA-256" => new ScramSha256Mechanism(context),
        _ => throw new ArgumentOutOfRangeException(nameof(name), name, "not a mechanism Elemta implements"),
    };

    /// <summary>The first step, given the initial response of the AUTH command (null when there was none; empty for "=").</summary>
    public abstract Task<SaslStep> StartAsync(byte[]? initialResponse);

    /// <summary>The next step, given the client's decoded response to the last challenge.</summary>
    public abstract Task<SaslStep> ContinueAsync(byte[] response);

    /// <summary>Strict UTF-8 (RFC 4422 §4: SASL strings are UTF-8), null when the octets are not.</summary>
    protected static string? DecodeUtf8(byte[] bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
    }

    /// <summary>Checks a password for a normalised name: an unknown name is checked against a decoy, so that it takes as long as a known one.</summary>
    protected async Task<SaslStep> CheckPasswordAsync(string name, string password)
    {
        if (!await Context.MayTryAsync(name).ConfigureAwait(false))
        {
            return new SaslStep(SaslStepKind.LockedOut, User: name);
        }

        var account = await Context.Users.FindAsync(name, Context.CancellationToken).ConfigureAwait(false);
        var valid = Passwords.Verify(account?.Credentials.Password ?? Context.DecoyPassword, password);
        return valid && account is not null ? new SaslStep(SaslStepKind.Authenticated, User: name, Account: account) : SaslStep.Fail(name);
    }
}
