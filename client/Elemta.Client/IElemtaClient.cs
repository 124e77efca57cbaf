using System.Collections.Immutable;
using Elemta.Contracts;
using MimeKit;
using MessagePriority = Elemta.Contracts.MessagePriority;

namespace Elemta.Client;

/// <summary>
/// What both clients offer: <see cref="ElemtaClient"/> through an Orleans gateway and <see cref="ElemtaHttpClient"/>
/// through the REST API, with the same model types. Failures are <see cref="ElemtaException"/>s.
/// </summary>
public interface IElemtaClient
{
    /// <summary>
    /// Queues a message for delivery and returns its queue id once it is stored durably (as after SMTP's 250).
    /// <paramref name="content"/> is the whole RFC 5322 message (headers and body, CRLF line endings). An empty
    /// <paramref name="sender"/> is the null sender <c>&lt;&gt;</c>. Through the REST API this needs the operator role.
    /// </summary>
    /// <exception cref="ArgumentException">No recipient (the gateway client also checks the addresses here).</exception>
    /// <exception cref="ElemtaException">Refused (a malformed address, too large: <see cref="ElemtaErrorKind.Invalid"/>) or not stored.</exception>
    Task<string> SubmitAsync(string sender, IEnumerable<string> recipients, byte[] content, MessagePriority priority = MessagePriority.Normal, CancellationToken cancellationToken = default);

    /// <summary>
    /// Queues a MimeKit message. The envelope sender defaults to the <c>Sender</c> or first <c>From</c> address and the
    /// recipients to every <c>To</c>, <c>Cc</c> and <c>Bcc</c> address; <c>Bcc</c> is never written into the content.
    /// </summary>
    Task<string> SubmitAsync(MimeMessage message, string? sender = null, IEnumerable<string>? recipients = null, MessagePriority priority = MessagePriority.Normal, CancellationToken cancellationToken = default);

    /// <summary>Counts per state, the busiest <paramref name="topDomains"/> domains, recent outcome rates.</summary>
    Task<QueueStatistics> GetStatisticsAsync(int topDomains = 10, CancellationToken cancellationToken = default);

    /// <summary>Every message matching <paramref name="filter"/>, fetched a page at a time as the caller enumerates.</summary>
    IAsyncEnumerable<QueuedMessage> ListAsync(QueueFilter filter, CancellationToken cancellationToken = default);

    /// <summary>A message's envelope, state and per-recipient status; null when no message has that id.</summary>
    Task<MessageStatus?> GetMessageAsync(string messageId, CancellationToken cancellationToken = default);

    /// <summary>The message as received (RFC 5322 octets); null when there is no such message or it finished and its content was deleted.</summary>
    Task<byte[]?> GetRawMessageAsync(string messageId, CancellationToken cancellationToken = default);

    /// <summary>Every delivery attempt of a message, oldest first.</summary>
    Task<ImmutableArray<RecordedAttempt>> GetAttemptsAsync(string messageId, CancellationToken cancellationToken = default);

    /// <summary>Why a message is where it is; null when no message has that id.</summary>
    Task<MessageExplanation?> ExplainMessageAsync(string messageId, CancellationToken cancellationToken = default);

    /// <summary>Why a domain's queue is (not) moving.</summary>
    Task<DomainQueueExplanation> ExplainDomainAsync(string domain, CancellationToken cancellationToken = default);

    /// <summary>Holds, releases, retries now or deletes one message; <see cref="ElemtaErrorKind.NotFound"/> when there is none.</summary>
    Task<QueueActionResult> ApplyToMessageAsync(string messageId, QueueAction action, CancellationToken cancellationToken = default);

    /// <summary>Holds, releases, retries now or deletes every message waiting for one domain.</summary>
    Task<QueueActionResult> ApplyToDomainAsync(string domain, QueueAction action, CancellationToken cancellationToken = default);

    /// <summary>Holds, releases, retries now or deletes every message in one state.</summary>
    Task<QueueActionResult> ApplyToStateAsync(MessageQueueState state, QueueAction action, CancellationToken cancellationToken = default);

    /// <summary>
    /// Follows a message's delivery: yields its status now and then at every change, until every recipient is final
    /// or <paramref name="cancellationToken"/> ends the watch. Best effort: the status is polled every
    /// <paramref name="pollInterval"/> (default 1 s), so changes within one interval are seen as one event.
    /// </summary>
    IAsyncEnumerable<DeliveryEvent> WatchAsync(string messageId, TimeSpan? pollInterval = null, CancellationToken cancellationToken = default);

    /// <summary>Every account, sorted by name.</summary>
    Task<ImmutableArray<ElemtaUser>> ListUsersAsync(CancellationToken cancellationToken = default);

    /// <summary>One account, or null.</summary>
    Task<ElemtaUser?> GetUserAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>
    /// Creates an account. Without <paramref name="password"/> one is generated and returned (the only time it is
    /// visible); with one, null is returned. <see cref="ElemtaErrorKind.Conflict"/> when the name is taken.
    /// </summary>
    Task<string?> CreateUserAsync(string name, IEnumerable<UserRole> roles, IEnumerable<string> allowedSenders, string? password = null, CancellationToken cancellationToken = default);

    /// <summary>Sets a new password; without <paramref name="password"/> one is generated and returned.</summary>
    Task<string?> SetPasswordAsync(string name, string? password = null, CancellationToken cancellationToken = default);

    /// <summary>Replaces an account's roles and allowed senders.</summary>
    Task UpdateUserAsync(string name, IEnumerable<UserRole> roles, IEnumerable<string> allowedSenders, CancellationToken cancellationToken = default);

    /// <summary>Deletes an account.</summary>
    Task DeleteUserAsync(string name, CancellationToken cancellationToken = default);

    /// <summary>Every API key, revoked and expired ones included, oldest first.</summary>
    Task<ImmutableArray<ElemtaApiKey>> ListApiKeysAsync(CancellationToken cancellationToken = default);

    /// <summary>Creates an API key; its secret is in the answer and nowhere else.</summary>
    Task<CreatedApiKey> CreateApiKeyAsync(UserRole role, string name, TimeSpan? expiresIn = null, CancellationToken cancellationToken = default);

    /// <summary>Revokes an API key (<see cref="ElemtaErrorKind.NotFound"/> when there is none, <see cref="ElemtaErrorKind.Conflict"/> when it already was).</summary>
    Task RevokeApiKeyAsync(string id, CancellationToken cancellationToken = default);

    /// <summary>The cluster's silos, active ones first.</summary>
    Task<ImmutableArray<ElemtaSilo>> GetClusterAsync(CancellationToken cancellationToken = default);

    /// <summary>The IP access list every silo enforces at connect, with its version.</summary>
    Task<AccessList> GetAccessListAsync(CancellationToken cancellationToken = default);

    /// <summary>
    /// Adds or replaces the access-list entry for <paramref name="network"/> (CIDR, e.g. <c>192.0.2.0/24</c> or
    /// <c>2001:db8::/32</c>; a bare address is a /32 or /128) and returns it as stored, the network normalised.
    /// Effective on every silo within <c>Elemta:AccessList:RefreshInterval</c>. Through the REST API this needs the
    /// admin role. <see cref="ElemtaErrorKind.Invalid"/> for a network that does not parse or has host bits set.
    /// </summary>
    Task<AccessListEntry> SetAccessListEntryAsync(string network, AccessListAction action, string? comment = null, CancellationToken cancellationToken = default);

    /// <summary>Removes the access-list entry for <paramref name="network"/> (<see cref="ElemtaErrorKind.NotFound"/> when there is none).</summary>
    Task RemoveAccessListEntryAsync(string network, CancellationToken cancellationToken = default);
}
