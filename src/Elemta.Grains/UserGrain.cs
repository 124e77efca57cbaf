using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Logging;

namespace Elemta.Grains;

/// <summary>
/// One account. Its state is persisted through Orleans' grain storage (the same database as the queue), so every silo
/// reads the same account; every change is written before the call returns and recorded in the audit log.
/// </summary>
public sealed partial class UserGrain(
    [PersistentState("user", GrainStorage.ProviderName)] IPersistentState<UserGrainState> state,
    IAuditLog audit,
    TimeProvider timeProvider,
    ILogger<UserGrain> logger) : Grain, IUserGrain
{
    /// <inheritdoc />
    public Task<UserAccount?> GetAsync() => Task.FromResult(state.State.Account);

    /// <inheritdoc />
    public async Task<bool> CreateAsync(ImmutableArray<UserRole> roles, ImmutableArray<string> allowedSenders, UserCredentials credentials, string actor)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentException.ThrowIfNullOrEmpty(actor);
        if (roles.IsDefaultOrEmpty)
        {
            throw new ArgumentException("An account needs at least one role.", nameof(roles));
        }

        if (state.State.Account is not null)
        {
            return false;
        }

        var name = this.GetPrimaryKeyString();
        var now = timeProvider.GetUtcNow();
        // Listed first: a crash between the two writes leaves a listed name without an account, which listing skips
        // and a retried create fills, rather than an account nobody can list.
        await GrainFactory.GetGrain<IUserDirectoryGrain>(IUserDirectoryGrain.Key).AddAsync(name);
        state.State.Account = new UserAccount(name, roles, allowedSenders.IsDefault ? [] : allowedSenders, credentials, now, now);
        await state.WriteStateAsync();
        await AuditAsync(actor, "user.create", $"roles={RoleList(roles)} senders={SenderList(allowedSenders)}");
        LogChanged(name, "created", actor);
        return true;
    }

    /// <inheritdoc />
    public async Task<bool> SetCredentialsAsync(UserCredentials credentials, string actor)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        ArgumentException.ThrowIfNullOrEmpty(actor);
        if (state.State.Account is not { } account)
        {
            return false;
        }

        state.State.Account = account with { Credentials = credentials, ChangedAt = timeProvider.GetUtcNow() };
        await state.WriteStateAsync();
        await AuditAsync(actor, "user.password", "password changed");
        LogChanged(account.Name, "password changed", actor);
        return true;
    }

    /// <inheritdoc />
    public async Task<bool> UpdateAsync(ImmutableArray<UserRole> roles, ImmutableArray<string> allowedSenders, string actor)
    {
        ArgumentException.ThrowIfNullOrEmpty(actor);
        if (roles.IsDefaultOrEmpty)
        {
            throw new ArgumentException("An account needs at least one role.", nameof(roles));
        }

        if (state.State.Account is not { } account)
        {
            return false;
        }

        state.State.Account = account with { Roles = roles, AllowedSenders = allowedSenders.IsDefault ? [] : allowedSenders, ChangedAt = timeProvider.GetUtcNow() };
        await state.WriteStateAsync();
        await AuditAsync(actor, "user.update", $"roles={RoleList(roles)} senders={SenderList(allowedSenders)}");
        LogChanged(account.Name, "updated", actor);
        return true;
    }

    /// <inheritdoc />
    public async Task<bool> DeleteAsync(string actor)
    {
        ArgumentException.ThrowIfNullOrEmpty(actor);
        if (state.State.Account is not { } account)
        {
            return false;
        }

        // The account first, so a crash in between leaves a listed name without an account, never the reverse.
        await state.ClearStateAsync();
        state.State.Account = null;
        await GrainFactory.GetGrain<IUserDirectoryGrain>(IUserDirectoryGrain.Key).RemoveAsync(account.Name);
        await AuditAsync(actor, "user.delete", "account deleted");
        LogChanged(account.Name, "deleted", actor);
        return true;
    }

    private Task AuditAsync(string actor, string action, string detail) =>
        audit.AppendAsync(new AuditRecord(timeProvider.GetUtcNow(), actor, action, this.GetPrimaryKeyString(), detail), CancellationToken.None);

    private static string RoleList(ImmutableArray<UserRole> roles) => string.Join(',', roles.Select(r => r.ToString().ToLowerInvariant()));

    private static string SenderList(ImmutableArray<string> senders) => senders.IsDefaultOrEmpty ? "(login name)" : string.Join(',', senders);

    [LoggerMessage(Level = LogLevel.Information, Message = "Account {Name} {Change} by {Actor}")]
    private partial void LogChanged(string name, string change, string actor);
}

/// <summary>The list of account names, persisted as one small state (accounts are few: people and services, not mailboxes).</summary>
public sealed class UserDirectoryGrain(
    [PersistentState("user-directory", GrainStorage.ProviderName)] IPersistentState<UserDirectoryState> state) : Grain, IUserDirectoryGrain
{
    /// <inheritdoc />
    public Task<ImmutableArray<string>> ListAsync() => Task.FromResult(state.State.Names);

    /// <inheritdoc />
    public async Task AddAsync(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (state.State.Names.BinarySearch(name, StringComparer.Ordinal) < 0)
        {
            state.State.Names = [.. state.State.Names.Add(name).Order(StringComparer.Ordinal)];
            await state.WriteStateAsync();
        }
    }

    /// <inheritdoc />
    public async Task RemoveAsync(string name)
    {
        ArgumentException.ThrowIfNullOrEmpty(name);
        if (state.State.Names.Contains(name))
        {
            state.State.Names = state.State.Names.Remove(name);
            await state.WriteStateAsync();
        }
    }
}
