using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Elemta.Auth;
using Elemta.Contracts;

namespace Elemta.Smtp.Sasl;

/// <summary>
/// SCRAM-SHA-256 (RFC 5802 §5, RFC 7677) without channel binding: client-first, server-first (nonce, salt,
/// iterations), client-final with the proof, server-final with the server's signature (sent in a 334 the client
/// answers with an empty response, RFC 4954 §4), then success.
/// </summary>
internal sealed class ScramSha256Mechanism(SaslContext context) : SaslMechanism(context)
{
    private enum State
    {
        ClientFirst,
        ClientFinal,
        Acknowledgement,
    }

    private State _state;
    private string _name = string.Empty;
    private string _gs2Header = string.Empty;
    private string _bare = string.Empty;
    private string _serverFirst = string.Empty;
    private string _nonce = string.Empty;
    private UserAccount? _account;
    private ScramCredential? _credential;

    /// <inheritdoc />
    public override Task<SaslStep> StartAsync(byte[]? initialResponse) =>
        initialResponse is null ? Task.FromResult(SaslStep.Send([])) : ContinueAsync(initialResponse);

    /// <inheritdoc />
    public override Task<SaslStep> ContinueAsync(byte[] response) => _state switch
    {
        State.ClientFirst => ClientFirstAsync(response),
        State.ClientFinal => Task.FromResult(ClientFinal(response)),
        _ => Task.FromResult(new SaslStep(SaslStepKind.Authenticated, User: _name, Account: _account)),
    };

    private async Task<SaslStep> ClientFirstAsync(byte[] response)
    {
        if (DecodeUtf8(response) is not { } clientFirst || !TryParseClientFirst(clientFirst, out _gs2Header, out _bare, out var user, out var clientNonce))
        {
            return SaslStep.Bad();
        }

        if (Passwords.NormalizeUserName(user, out _) is not { } name)
        {
            return SaslStep.Fail(null);
        }

        _name = name;
        if (!await Context.MayTryAsync(name).ConfigureAwait(false))
        {
            return new SaslStep(SaslStepKind.LockedOut, User: name);
        }

        _account = await Context.Users.FindAsync(name, Context.CancellationToken).ConfigureAwait(false);
        _credential = _account?.Credentials.Scram;
        // A name without SCRAM keys gets a stable decoy salt, so the exchange looks the same as for a real account.
        var salt = _credential?.Salt ?? ScramSha256.DecoySalt(Context.DecoySecret, name);
        var iterations = _credential?.Iterations ?? 4096;
        _nonce = clientNonce + Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        _serverFirst = $"r={_nonce},s={Convert.ToBase64String(salt)},i={iterations.ToString(CultureInfo.InvariantCulture)}";
        _state = State.ClientFinal;
        return SaslStep.Send(Encoding.UTF8.GetBytes(_serverFirst), name);
    }

    private SaslStep ClientFinal(byte[] response)
    {
        var clientFinal = DecodeUtf8(response);
        var proofAt = clientFinal?.LastIndexOf(",p=", StringComparison.Ordinal) ?? -1;
        byte[]? proof = null;
        if (clientFinal is null || proofAt < 0 || !TryDecodeBase64(clientFinal[(proofAt + 3)..], out proof))
        {
            return SaslStep.Bad(_name);
        }

        var withoutProof = clientFinal[..proofAt];
        var attributes = withoutProof.Split(',');
        // c= must repeat the GS2 header, and r= must be the nonce this server made (RFC 5802 §5.1).
        var bindingOk = attributes.Length >= 2
            && attributes[0] == "c=" + Convert.ToBase64String(Encoding.UTF8.GetBytes(_gs2Header))
            && attributes[1] == "r=" + _nonce;
        var signature = bindingOk && _credential is not null ? ScramSha256.Verify(_credential, $"{_bare},{_serverFirst},{withoutProof}", proof) : null;
        if (signature is null || _account is null)
        {
            return SaslStep.Fail(_name);
        }

        _state = State.Acknowledgement;
        return SaslStep.Send(Encoding.ASCII.GetBytes("v=" + Convert.ToBase64String(signature)), _name);
    }

    private static bool TryDecodeBase64(string text, out byte[] bytes)
    {
        var buffer = new byte[(text.Length * 3 / 4) + 3];
        var ok = Convert.TryFromBase64String(text.Trim(), buffer, out var written);
        bytes = buffer[..written];
        return ok;
    }

    /// <summary>Parses <c>gs2-header client-first-message-bare</c>; only "n" and "y" (no channel binding) are accepted.</summary>
    private static bool TryParseClientFirst(string message, out string gs2Header, out string bare, out string user, out string nonce)
    {
        gs2Header = bare = user = nonce = string.Empty;
        if (message.Length < 3 || message[0] is not ('n' or 'y') || message[1] != ',')
        {
            return false;
        }

        var second = message.IndexOf(',', 2);
        if (second < 0)
        {
            return false;
        }

        gs2Header = message[..(second + 1)];
        bare = message[(second + 1)..];
        var fields = bare.Split(',');
        if (fields.Length < 2 || !fields[0].StartsWith("n=", StringComparison.Ordinal) || !fields[1].StartsWith("r=", StringComparison.Ordinal) || fields[1].Length < 3)
        {
            return false;
        }

        // RFC 5802 §5.1: "," and "=" in the name are sent as =2C and =3D.
        user = fields[0][2..].Replace("=2C", ",", StringComparison.Ordinal).Replace("=3D", "=", StringComparison.Ordinal);
        nonce = fields[1][2..];
        var authzid = message[2..second];
        // An authorization identity is accepted only when it is the same account.
        return authzid.Length == 0 || (authzid.StartsWith("a=", StringComparison.Ordinal) && string.Equals(authzid[2..], user, StringComparison.OrdinalIgnoreCase));
    }
}
