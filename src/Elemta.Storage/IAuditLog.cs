namespace Elemta.Storage;

/// <summary>One audited change: who did what to which account or key, and when.</summary>
/// <param name="At">When.</param>
/// <param name="Actor">Who: a user name, <c>cli</c> (the command line of the silo host) or <c>system</c>.</param>
/// <param name="Action">What, e.g. <c>user.password</c>.</param>
/// <param name="Subject">The account name or API key id acted on.</param>
/// <param name="Detail">What changed, never a secret.</param>
public sealed record AuditRecord(DateTimeOffset At, string Actor, string Action, string Subject, string Detail);

/// <summary>An audit record as stored, with its position in the log.</summary>
/// <param name="Id">Increases with every record appended; the key of paging.</param>
/// <param name="Record">The record.</param>
public sealed record StoredAuditRecord(long Id, AuditRecord Record);

/// <summary>The durable, append-only audit log of account, API key and operator changes.</summary>
public interface IAuditLog
{
    /// <summary>Appends <paramref name="record"/>; returns once it is committed.</summary>
    Task AppendAsync(AuditRecord record, CancellationToken cancellationToken);

    /// <summary>The latest records, newest first; only those about <paramref name="subject"/> when it is given.</summary>
    Task<IReadOnlyList<AuditRecord>> ReadAsync(string? subject, int limit, CancellationToken cancellationToken);

    /// <summary>
    /// A page of the log, newest first: up to <paramref name="limit"/> records older than <paramref name="beforeId"/>
    /// (every record when null), only those about <paramref name="subject"/> when it is given.
    /// </summary>
    Task<IReadOnlyList<StoredAuditRecord>> ReadPageAsync(string? subject, long? beforeId, int limit, CancellationToken cancellationToken);
}
