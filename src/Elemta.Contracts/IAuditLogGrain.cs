using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>One record of the audit log: who did what to which subject, and when.</summary>
/// <param name="Id">The record's position in the log; later records have higher ids (0 for one not yet written).</param>
/// <param name="At">When.</param>
/// <param name="Actor">Who: a user name, <c>apikey:&lt;id&gt;</c>, <c>cli:&lt;login&gt;</c> or <c>system</c>.</param>
/// <param name="Action">What, e.g. <c>user.password</c> or <c>message.hold</c>.</param>
/// <param name="Subject">What was acted on: an account name, an API key id, a message id, a domain, a queue state.</param>
/// <param name="Detail">What changed, never a secret.</param>
[GenerateSerializer, Immutable, Alias("elemta.AuditEntry")]
public sealed record AuditEntry(
    [property: Id(0)] long Id,
    [property: Id(1)] DateTimeOffset At,
    [property: Id(2)] string Actor,
    [property: Id(3)] string Action,
    [property: Id(4)] string Subject,
    [property: Id(5)] string Detail);

/// <summary>
/// The audit log as a grain, for callers without access to the database (a web process that is only an Orleans
/// client): operator actions that the queue grains do not record themselves are appended here, and the log is read
/// here page by page. Account and API key changes are recorded by their own grains.
/// </summary>
[Alias("elemta.IAuditLogGrain")]
public interface IAuditLogGrain : IGrainWithIntegerKey
{
    /// <summary>The key to call it with (it keeps no state: any silo's activation serves).</summary>
    const long Key = 0;

    /// <summary>Appends a record stamped with the silo's current time; returns once it is committed.</summary>
    [Alias("append")]
    Task AppendAsync(string actor, string action, string subject, string detail);

    /// <summary>
    /// Up to <paramref name="limit"/> records, newest first, older than the record <paramref name="beforeId"/> when it is
    /// given (the previous page's last id), only those about <paramref name="subject"/> when it is given.
    /// </summary>
    [Alias("read")]
    Task<ImmutableArray<AuditEntry>> ReadAsync(string? subject, long? beforeId, int limit);
}
