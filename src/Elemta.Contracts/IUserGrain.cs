using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>
/// One account, keyed by its login name in lower case. Every silo and front-end reads the account through this grain,
/// so a change is seen everywhere at once. Every change takes the name of who made it, for the audit log.
/// </summary>
[Alias("elemta.IUserGrain")]
public interface IUserGrain : IGrainWithStringKey
{
    /// <summary>The account, or null when there is none.</summary>
    [Alias("get")]
    Task<UserAccount?> GetAsync();

    /// <summary>Creates the account; false when one already exists under this name (nothing changes then).</summary>
    /// <param name="roles">At least one role.</param>
    /// <param name="allowedSenders">See <see cref="UserAccount.AllowedSenders"/>.</param>
    /// <param name="credentials">The new password's verifiers.</param>
    /// <param name="actor">Who creates it (a user name, <c>cli</c>, <c>system</c>).</param>
    [Alias("create")]
    Task<bool> CreateAsync(ImmutableArray<UserRole> roles, ImmutableArray<string> allowedSenders, UserCredentials credentials, string actor);

    /// <summary>Replaces the password's verifiers; false when there is no such account.</summary>
    [Alias("credentials")]
    Task<bool> SetCredentialsAsync(UserCredentials credentials, string actor);

    /// <summary>Replaces the roles and allowed senders; false when there is no such account.</summary>
    [Alias("update")]
    Task<bool> UpdateAsync(ImmutableArray<UserRole> roles, ImmutableArray<string> allowedSenders, string actor);

    /// <summary>Deletes the account; false when there was none.</summary>
    [Alias("delete")]
    Task<bool> DeleteAsync(string actor);
}

/// <summary>
/// The list of account names (key <see cref="Key"/>): what lets the user store be listed, and tells the silo whether it
/// is empty at first start. Maintained by the user grains.
/// </summary>
[Alias("elemta.IUserDirectoryGrain")]
public interface IUserDirectoryGrain : IGrainWithIntegerKey
{
    /// <summary>The one directory's key.</summary>
    const long Key = 0;

    /// <summary>Every account name, sorted.</summary>
    [Alias("list")]
    Task<ImmutableArray<string>> ListAsync();

    /// <summary>Adds a name (idempotent).</summary>
    [Alias("add")]
    Task AddAsync(string name);

    /// <summary>Removes a name (idempotent).</summary>
    [Alias("remove")]
    Task RemoveAsync(string name);
}

/// <summary>Persisted state of the user directory grain.</summary>
[GenerateSerializer, Alias("elemta.UserDirectoryState")]
public sealed class UserDirectoryState
{
    /// <summary>Account names.</summary>
    [Id(0)] public ImmutableArray<string> Names { get; set; } = [];
}
