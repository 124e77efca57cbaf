using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Logging;

namespace Elemta.Grains;

/// <summary>
/// The IP access list in one small persisted state in the grain storage every Elemta grain uses (SQLite on one node,
/// PostgreSQL in a cluster). Lists are short (tens to hundreds of networks), so the whole list is one record, written
/// before a change returns and recorded in the audit log. Reads are served from memory.
/// </summary>
public sealed partial class AccessListGrain(
    [PersistentState("access-list", GrainStorage.ProviderName)] IPersistentState<AccessListState> state,
    IAuditLog audit,
    TimeProvider timeProvider,
    ILogger<AccessListGrain> logger) : Grain, IAccessListGrain
{
    /// <summary>The longest comment an entry may have.</summary>
    public const int MaxCommentLength = 200;

    /// <summary>The most entries a list may hold: each silo matches every connection against the whole list.</summary>
    public const int MaxEntries = 10_000;

    /// <inheritdoc />
    public Task<AccessList> GetAsync() => Task.FromResult(Snapshot());

    /// <inheritdoc />
    public Task<AccessList?> GetIfChangedAsync(long knownVersion) =>
        Task.FromResult(knownVersion == state.State.Version ? null : Snapshot());

    /// <inheritdoc />
    public async Task<AccessListChange> SetAsync(string network, AccessListAction action, string comment, string actor)
    {
        ArgumentException.ThrowIfNullOrEmpty(actor);
        comment ??= string.Empty;
        if (!AccessNetworks.TryNormalise(network, out var normalised, out var error))
        {
            return Invalid(network, error, AccessListChangeStatus.InvalidNetwork);
        }

        if (!Enum.IsDefined(action))
        {
            return Invalid(network, "action must be allow or deny.");
        }

        if (comment.Length > MaxCommentLength || comment.Any(char.IsControl))
        {
            return Invalid(network, $"comment must be at most {MaxCommentLength} characters, without control characters.");
        }

        var entries = state.State.Entries;
        var index = IndexOf(normalised);
        if (index < 0 && entries.Length >= MaxEntries)
        {
            return Invalid(network, $"the access list holds its maximum of {MaxEntries} entries: remove some, or use wider networks.");
        }

        var entry = new AccessListEntry(normalised, action, comment, timeProvider.GetUtcNow(), actor);
        state.State.Entries = index >= 0
            ? entries.SetItem(index, entry)
            : entries.Add(entry).Sort((a, b) => AccessNetworks.Compare(a.Network, b.Network));
        state.State.Version++;
        await state.WriteStateAsync();
        var actionName = action.ToString().ToLowerInvariant();
        await AuditAsync(actor, $"access-list.{actionName}", normalised, comment.Length == 0 ? actionName : $"{actionName}: {comment}");
        LogChanged(normalised, actionName, actor, state.State.Version);
        return new AccessListChange(index >= 0 ? AccessListChangeStatus.Replaced : AccessListChangeStatus.Added, normalised, entry, state.State.Version, null);
    }

    /// <inheritdoc />
    public async Task<AccessListChange> RemoveAsync(string network, string actor)
    {
        ArgumentException.ThrowIfNullOrEmpty(actor);
        if (!AccessNetworks.TryNormalise(network, out var normalised, out var error))
        {
            return Invalid(network, error, AccessListChangeStatus.InvalidNetwork);
        }

        var index = IndexOf(normalised);
        if (index < 0)
        {
            return new AccessListChange(AccessListChangeStatus.NotFound, normalised, null, state.State.Version, null);
        }

        state.State.Entries = state.State.Entries.RemoveAt(index);
        state.State.Version++;
        await state.WriteStateAsync();
        await AuditAsync(actor, "access-list.remove", normalised, "removed");
        LogChanged(normalised, "removed", actor, state.State.Version);
        return new AccessListChange(AccessListChangeStatus.Removed, normalised, null, state.State.Version, null);
    }

    private AccessList Snapshot() => new(state.State.Version, state.State.Entries);

    private int IndexOf(string normalised)
    {
        var entries = state.State.Entries;
        for (var i = 0; i < entries.Length; i++)
        {
            if (string.Equals(entries[i].Network, normalised, StringComparison.Ordinal))
            {
                return i;
            }
        }

        return -1;
    }

    private AccessListChange Invalid(string? network, string error, AccessListChangeStatus status = AccessListChangeStatus.Invalid) =>
        new(status, network ?? string.Empty, null, state.State.Version, error);

    private Task AuditAsync(string actor, string action, string subject, string detail) =>
        audit.AppendAsync(new AuditRecord(timeProvider.GetUtcNow(), actor, action, subject, detail), CancellationToken.None);

    [LoggerMessage(EventId = 17100, Level = LogLevel.Information, Message = "Access list entry {Network} {Change} by {Actor} (version {Version})")]
    private partial void LogChanged(string network, string change, string actor, long version);
}
