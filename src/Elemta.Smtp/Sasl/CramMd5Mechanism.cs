using System.Globalization;
using System.Security.Cryptography;
using System.Text;
using Elemta.Auth;

namespace Elemta.Smtp.Sasl;

/// <summary>CRAM-MD5 (RFC 2195): a fresh challenge each time, answered with <c>user HMAC-MD5(challenge)</c>.</summary>
internal sealed class CramMd5Mechanism(SaslContext context) : SaslMechanism(context)
{
    private string? _challenge;

    /// <inheritdoc />
    public override Task<SaslStep> StartAsync(byte[]? initialResponse)
    {
        if (initialResponse is not null)
        {
            return Task.FromResult(SaslStep.Bad()); // the server speaks first in CRAM-MD5
        }

        _challenge = string.Create(CultureInfo.InvariantCulture, $"<{RandomNumberGenerator.GetHexString(16, lowercase: true)}.{Context.TimeProvider.GetUtcNow().ToUnixTimeSeconds()}@{Context.HostName}>");
        return Task.FromResult(SaslStep.Send(Encoding.ASCII.GetBytes(_challenge)));
    }

    /// <inheritdoc />
    public override async Task<SaslStep> ContinueAsync(byte[] response)
    {
        var text = DecodeUtf8(response);
        var space = text?.LastIndexOf(' ') ?? -1;
        if (_challenge is null || text is null || space <= 0)
        {
            return SaslStep.Bad();
        }

        var name = Passwords.NormalizeUserName(text[..space], out _);
        if (name is null)
        {
            return SaslStep.Fail(null);
        }

        if (!await Context.MayTryAsync(name).ConfigureAwait(false))
        {
            return new SaslStep(SaslStepKind.LockedOut, User: name);
        }

        var account = await Context.Users.FindAsync(name, Context.CancellationToken).ConfigureAwait(false);
        var valid = account?.Credentials.CramMd5 is { } credential && CramMd5.Verify(credential, _challenge, text[(space + 1)..]);
        return valid ? new SaslStep(SaslStepKind.Authenticated, User: name, Account: account) : SaslStep.Fail(name);
    }
}
