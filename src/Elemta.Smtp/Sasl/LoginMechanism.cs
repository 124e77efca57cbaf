using Elemta.Auth;

namespace Elemta.Smtp.Sasl;

/// <summary>LOGIN (draft-murchison-sasl-login): the user name, then the password, each prompted.</summary>
internal sealed class LoginMechanism(SaslContext context) : SaslMechanism(context)
{
    private byte[]? _user;

    /// <inheritdoc />
    public override Task<SaslStep> StartAsync(byte[]? initialResponse) =>
        initialResponse is null ? Task.FromResult(SaslStep.Send("Username:"u8.ToArray())) : ContinueAsync(initialResponse);

    /// <inheritdoc />
    public override async Task<SaslStep> ContinueAsync(byte[] response)
    {
        if (_user is null)
        {
            _user = response;
            return SaslStep.Send("Password:"u8.ToArray());
        }

        var user = DecodeUtf8(_user);
        var password = DecodeUtf8(response);
        if (user is null || password is null)
        {
            return SaslStep.Bad();
        }

        var name = Passwords.NormalizeUserName(user, out _);
        return name is null ? SaslStep.Fail(null) : await CheckPasswordAsync(name, password).ConfigureAwait(false);
    }
}
