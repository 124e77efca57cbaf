using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>
/// The IP access list (issue 17): networks whose SMTP clients are allowed or denied at connect, one persisted list per
/// key (the server uses <see cref="DefaultKey"/>). One activation cluster-wide; every silo's access-list plugin reads
/// it on a timer, so a change is effective everywhere within that interval. Every change takes who made it, for the
/// audit log, and raises <see cref="AccessList.Version"/>.
/// </summary>
[Alias("elemta.IAccessListGrain")]
public interface IAccessListGrain : IGrainWithStringKey
{
    /// <summary>The key of the list the server enforces.</summary>
    const string DefaultKey = "default";

    /// <summary>The whole list with its version.</summary>
    [Alias("get")]
    Task<AccessList> GetAsync();

    /// <summary>The whole list when its version differs from <paramref name="knownVersion"/>, else null (nothing to copy).</summary>
    [Alias("get-if-changed")]
    Task<AccessList?> GetIfChangedAsync(long knownVersion);

    /// <summary>
    /// Adds the entry for <paramref name="network"/> (CIDR; a bare address is a /32 or /128), or replaces the one for
    /// the same network. A network that does not parse, has host bits set, or a comment that is too long or has control
    /// characters, is refused with <see cref="AccessListChangeStatus.InvalidNetwork"/> or <see cref="AccessListChangeStatus.Invalid"/> and a message naming the field.
    /// </summary>
    [Alias("set")]
    Task<AccessListChange> SetAsync(string network, AccessListAction action, string comment, string actor);

    /// <summary>Removes the entry for <paramref name="network"/> (given in any form <see cref="SetAsync"/> takes).</summary>
    [Alias("remove")]
    Task<AccessListChange> RemoveAsync(string network, string actor);
}

/// <summary>What an access-list entry does to a client in its network.</summary>
[GenerateSerializer, Alias("elemta.AccessListAction")]
public enum AccessListAction
{
    /// <summary>The connection is accepted, and marked so later policies may skip their checks.</summary>
    Allow = 0,

    /// <summary>The connection is refused before the greeting with <c>554 5.7.1</c>.</summary>
    Deny = 1,
}

/// <summary>One access-list entry.</summary>
/// <param name="Network">The network in normalised CIDR form (<c>192.0.2.0/24</c>, <c>2001:db8::/32</c>, <c>192.0.2.7/32</c>).</param>
/// <param name="Action">Allow or deny.</param>
/// <param name="Comment">Why it is there (may be empty).</param>
/// <param name="AddedAt">When it was added or last replaced.</param>
/// <param name="AddedBy">Who added or last replaced it.</param>
[GenerateSerializer, Immutable, Alias("elemta.AccessListEntry")]
public sealed record AccessListEntry(
    [property: Id(0)] string Network,
    [property: Id(1)] AccessListAction Action,
    [property: Id(2)] string Comment,
    [property: Id(3)] DateTimeOffset AddedAt,
    [property: Id(4)] string AddedBy);

/// <summary>The access list at one version.</summary>
/// <param name="Version">Raised by every change; 0 for a list never changed.</param>
/// <param name="Entries">The entries, sorted by address family, network and prefix length.</param>
[GenerateSerializer, Immutable, Alias("elemta.AccessList")]
public sealed record AccessList(
    [property: Id(0)] long Version,
    [property: Id(1)] ImmutableArray<AccessListEntry> Entries);

/// <summary>What a change to the access list did.</summary>
[GenerateSerializer, Alias("elemta.AccessListChangeStatus")]
public enum AccessListChangeStatus
{
    /// <summary>A new entry was added.</summary>
    Added = 0,

    /// <summary>The network's entry was replaced.</summary>
    Replaced = 1,

    /// <summary>The network's entry was removed.</summary>
    Removed = 2,

    /// <summary>There is no entry for the network (nothing changed).</summary>
    NotFound = 3,

    /// <summary>The network does not parse or has host bits set (nothing changed); <see cref="AccessListChange.Error"/> says why.</summary>
    InvalidNetwork = 4,

    /// <summary>Another value was refused (the action, the comment), or the list is full (nothing changed); <see cref="AccessListChange.Error"/> says why.</summary>
    Invalid = 5,
}

/// <summary>The result of a change.</summary>
/// <param name="Status">What happened.</param>
/// <param name="Network">The network in normalised form (the input as given when it was refused).</param>
/// <param name="Entry">The entry as stored, for an addition or replacement.</param>
/// <param name="Version">The list's version after the call.</param>
/// <param name="Error">Why the input was refused, naming the field; null otherwise.</param>
[GenerateSerializer, Immutable, Alias("elemta.AccessListChange")]
public sealed record AccessListChange(
    [property: Id(0)] AccessListChangeStatus Status,
    [property: Id(1)] string Network,
    [property: Id(2)] AccessListEntry? Entry,
    [property: Id(3)] long Version,
    [property: Id(4)] string? Error);

/// <summary>Persisted state of an access list.</summary>
[GenerateSerializer, Alias("elemta.AccessListState")]
public sealed class AccessListState
{
    /// <summary>Raised by every change.</summary>
    [Id(0)] public long Version { get; set; }

    /// <summary>The entries, sorted.</summary>
    [Id(1)] public ImmutableArray<AccessListEntry> Entries { get; set; } = [];
}
