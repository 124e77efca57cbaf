using Elemta.Auth;

namespace Elemta.Smtp.Sasl;

/// <summary>PLAIN (RFC 4616): one message, <c>[authzid] NUL authcid NUL passwd</c>.</summary>
internal sealed class PlainMechanism(SaslContext context) : SaslMechanism(context)
{
    /// <inheritdoc />
    public override Task<SaslStep> StartAsync(byte[]? initialResponse) =>
        initialResponse is null ? Task.FromResult(SaslStep.Send([])) : ContinueAsync(initialResponse);

    /// <inheritdoc />
    public override async Task<SaslStep> ContinueAsync(byte[] response)
    {
        var fields = DecodeUtf8(response)?.Split('\0');
        if (fields is not { Length: 3 })
        {
            return SaslStep.Bad();
        }

        var name = Passwords.NormalizeUserName(fields[1], out _);
        // Acting as another account (a different authzid) is not supported: only the same one, or none.
        if (name is null || (fields[0].Length > 0 && !string.Equals(Passwords.NormalizeUserName(fields[0], out _), name, StringComparison.Ordinal)))
        {
            return SaslStep.Fail(name);
        }

        return await CheckPasswordAsync(name, fields[2]).ConfigureAwait(false);
    }
}
