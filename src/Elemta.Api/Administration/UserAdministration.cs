using System.Collections.Immutable;
using Elemta.Api.Users;
using Elemta.Auth;
using Elemta.Contracts;

namespace Elemta.Api.Administration;

/// <summary>Accounts as the admin plane lists them (never their credentials).</summary>
public sealed class UserAdministration(IGrainFactory grains)
{
    /// <summary>Every account; a listed name without an account (a crash between the two writes) is skipped, as the CLI does.</summary>
    public async Task<ImmutableArray<UserModel>> ListAsync(CancellationToken cancellationToken)
    {
        var names = await grains.GetGrain<IUserDirectoryGrain>(IUserDirectoryGrain.Key).ListAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        var accounts = await Task.WhenAll(names.Select(n => grains.GetGrain<IUserGrain>(n).GetAsync())).WaitAsync(cancellationToken).ConfigureAwait(false);
        return [.. accounts.OfType<UserAccount>().Select(Model)];
    }

    /// <summary>The API's view of an account.</summary>
    public static UserModel Model(UserAccount account)
    {
        ArgumentNullException.ThrowIfNull(account);
        return new UserModel(account.Name, [.. account.Roles.Select(Passwords.RoleName)], account.AllowedSenders.IsDefault ? [] : [.. account.AllowedSenders], account.CreatedAt, account.ChangedAt);
    }
}
