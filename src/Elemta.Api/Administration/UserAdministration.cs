using System.Collections.Immutable;
using Elemta.Api.Users;
using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.Extensions.Options;

namespace Elemta.Api.Administration;

/// <summary>What happened to an account deletion.</summary>
public enum DeleteUserStatus
{
    /// <summary>Deleted (and recorded by the account's grain).</summary>
    Deleted,

    /// <summary>There is no such account.</summary>
    NotFound,

    /// <summary>It is the only admin: deleting it would leave nobody to manage accounts.</summary>
    LastAdmin,
}

/// <summary>
/// Accounts as the admin plane manages them (the REST API's <c>/api/users</c> and the admin app's page), never showing
/// their credentials; the account grains record each change in the audit log with the actor.
/// </summary>
public sealed class UserAdministration(IGrainFactory grains, IOptions<CredentialOptions> credentials)
{
    /// <summary>Every account; a listed name without an account (a crash between the two writes) is skipped, as the CLI does.</summary>
    public async Task<ImmutableArray<UserModel>> ListAsync(CancellationToken cancellationToken)
    {
        var names = await grains.GetGrain<IUserDirectoryGrain>(IUserDirectoryGrain.Key).ListAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        var accounts = await Task.WhenAll(names.Select(n => grains.GetGrain<IUserGrain>(n).GetAsync())).WaitAsync(cancellationToken).ConfigureAwait(false);
        return [.. accounts.OfType<UserAccount>().Select(Model)];
    }

    /// <summary>
    /// Creates account <paramref name="name"/> (already normalised) with <paramref name="password"/> (already checked);
    /// false when the name is taken.
    /// </summary>
    public Task<bool> CreateAsync(string name, ImmutableArray<UserRole> roles, ImmutableArray<string> allowedSenders, string password, string actor, CancellationToken cancellationToken) =>
        grains.GetGrain<IUserGrain>(name).CreateAsync(roles, allowedSenders, Passwords.CreateCredentials(password, credentials.Value), actor).WaitAsync(cancellationToken);

    /// <summary>Deletes account <paramref name="name"/>, unless it is the only admin.</summary>
    public async Task<DeleteUserStatus> DeleteAsync(string name, string actor, CancellationToken cancellationToken)
    {
        var grain = grains.GetGrain<IUserGrain>(name);
        var account = await grain.GetAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        if (account is null)
        {
            return DeleteUserStatus.NotFound;
        }

        // Deleting the last admin would leave nobody able to manage accounts except through the gateway's CLI.
        if (account.Has(UserRole.Admin) && !await AnotherAdminExistsAsync(name, cancellationToken).ConfigureAwait(false))
        {
            return DeleteUserStatus.LastAdmin;
        }

        return await grain.DeleteAsync(actor).WaitAsync(cancellationToken).ConfigureAwait(false) ? DeleteUserStatus.Deleted : DeleteUserStatus.NotFound;
    }

    /// <summary>Whether an account other than <paramref name="except"/> has the admin role.</summary>
    public async Task<bool> AnotherAdminExistsAsync(string except, CancellationToken cancellationToken)
    {
        var names = await grains.GetGrain<IUserDirectoryGrain>(IUserDirectoryGrain.Key).ListAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        var accounts = await Task.WhenAll(names.Where(n => n != except).Select(n => grains.GetGrain<IUserGrain>(n).GetAsync())).WaitAsync(cancellationToken).ConfigureAwait(false);
        return accounts.Any(a => a?.Has(UserRole.Admin) == true);
    }

    /// <summary>The API's view of an account.</summary>
    public static UserModel Model(UserAccount account)
    {
        ArgumentNullException.ThrowIfNull(account);
        return new UserModel(account.Name, [.. account.Roles.Select(Passwords.RoleName)], account.AllowedSenders.IsDefault ? [] : [.. account.AllowedSenders], account.CreatedAt, account.ChangedAt);
    }
}
