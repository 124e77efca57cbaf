using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Client;

/// <summary>Which messages a queue listing returns, and how it pages.</summary>
/// <param name="State">The queue state listed.</param>
public sealed record QueueFilter(MessageQueueState State)
{
    /// <summary>Only messages with an entry in this domain's queue (so pending ones); null for any.</summary>
    public string? Domain { get; init; }

    /// <summary>Only messages from this envelope sender (exact match); null for any.</summary>
    public string? Sender { get; init; }

    /// <summary>Newest first instead of oldest first.</summary>
    public bool Newest { get; init; }

    /// <summary>Messages fetched per round trip (1-1000, default 100). The listing itself goes on until the state is exhausted or the caller stops.</summary>
    public int PageSize { get; init; } = 100;
}

/// <summary>An account, without its credentials.</summary>
/// <param name="Name">The login name (lower case).</param>
/// <param name="Roles">Its roles.</param>
/// <param name="AllowedSenders">The MAIL FROM addresses it may use (<c>user@domain</c>, <c>@domain</c>, <c>*</c>); empty: its own name.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="ChangedAt">When it or its password last changed.</param>
public sealed record ElemtaUser(string Name, ImmutableArray<UserRole> Roles, ImmutableArray<string> AllowedSenders, DateTimeOffset CreatedAt, DateTimeOffset ChangedAt);

/// <summary>Whether an API key works.</summary>
public enum ApiKeyState
{
    /// <summary>It authenticates.</summary>
    Active = 0,

    /// <summary>An administrator revoked it.</summary>
    Revoked = 1,

    /// <summary>Its expiry passed.</summary>
    Expired = 2,
}

/// <summary>An API key as listed: never its secret.</summary>
/// <param name="Id">The public part of the key.</param>
/// <param name="Name">What it is for.</param>
/// <param name="Role">What it may do.</param>
/// <param name="State">Whether it works.</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="CreatedBy">Who created it.</param>
/// <param name="ExpiresAt">When it stops working; null for never.</param>
/// <param name="RevokedAt">When it was revoked.</param>
public sealed record ElemtaApiKey(string Id, string Name, UserRole Role, ApiKeyState State, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt);

/// <summary>A new API key with its secret, which is shown this once.</summary>
/// <param name="ApiKey">The key as it will be listed.</param>
/// <param name="Key">The whole key (<c>id.secret</c>) to present as a bearer token.</param>
public sealed record CreatedApiKey(ElemtaApiKey ApiKey, string Key);

/// <summary>One silo of the cluster.</summary>
/// <param name="Address">Its Orleans address (<c>ip:port@generation</c>).</param>
/// <param name="Name">Its name.</param>
/// <param name="HostName">The machine it runs on.</param>
/// <param name="Status">Membership status (<c>Active</c>, <c>Joining</c>, <c>ShuttingDown</c>, <c>Dead</c>, …).</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="LastAliveAt">When it last said it was alive.</param>
/// <param name="Activations">Grain activations (active silos only).</param>
/// <param name="Clients">Clients connected to its gateway (active silos only).</param>
/// <param name="Overloaded">Whether it refuses new work (active silos only).</param>
public sealed record ElemtaSilo(string Address, string? Name, string? HostName, string Status, DateTimeOffset StartedAt, DateTimeOffset? LastAliveAt, int? Activations, long? Clients, bool? Overloaded);

/// <summary>A change in a watched message's delivery state (see <see cref="IElemtaClient.WatchAsync"/>).</summary>
/// <param name="MessageId">The message.</param>
/// <param name="ObservedAt">When the change was seen (not when it happened: changes are polled).</param>
/// <param name="Status">The message's status after the change.</param>
public sealed record DeliveryEvent(string MessageId, DateTimeOffset ObservedAt, MessageStatus Status)
{
    /// <summary>True when no recipient waits any more: the last event of a watch.</summary>
    public bool IsFinal => Status.State.IsFinal();
}

/// <summary>What went wrong with a call, so callers (and the CLI's exit codes) can tell cases apart.</summary>
public enum ElemtaErrorKind
{
    /// <summary>Elemta failed to do it (an error inside the cluster).</summary>
    Failed = 0,

    /// <summary>The request was malformed or a value was refused.</summary>
    Invalid = 1,

    /// <summary>No such message, domain, account or key.</summary>
    NotFound = 2,

    /// <summary>It conflicts with the current state (exists already, already revoked, message finished, last admin).</summary>
    Conflict = 3,

    /// <summary>The credentials were missing, wrong, or lack the role.</summary>
    Unauthorized = 4,

    /// <summary>The cluster could not be reached.</summary>
    Unreachable = 5,
}

/// <summary>An Elemta call that did not succeed, with one sentence saying why.</summary>
public sealed class ElemtaException : Exception
{
    /// <summary>Creates the exception.</summary>
    public ElemtaException(ElemtaErrorKind kind, string message, Exception? innerException = null)
        : base(message, innerException)
    {
        Kind = kind;
    }

    /// <summary>Creates an exception of kind <see cref="ElemtaErrorKind.Failed"/>.</summary>
    public ElemtaException()
        : this(ElemtaErrorKind.Failed, "Elemta failed.")
    {
    }

    /// <summary>Creates an exception of kind <see cref="ElemtaErrorKind.Failed"/>.</summary>
    public ElemtaException(string message)
        : this(ElemtaErrorKind.Failed, message)
    {
    }

    /// <summary>Creates an exception of kind <see cref="ElemtaErrorKind.Failed"/>.</summary>
    public ElemtaException(string message, Exception innerException)
        : this(ElemtaErrorKind.Failed, message, innerException)
    {
    }

    /// <summary>The kind of failure.</summary>
    public ElemtaErrorKind Kind { get; }
}
