using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.Storage;
using Orleans.Concurrency;

namespace Elemta.Grains;

/// <summary>
/// The audit log for callers that reach the cluster only through grains. It holds no state, so any silo's local
/// activation serves (a stateless worker): each call is one write or one read of the store's audit table.
/// </summary>
[StatelessWorker]
public sealed class AuditLogGrain(IAuditLog audit, TimeProvider timeProvider) : Grain, IAuditLogGrain
{
    private const int MaxPage = 1000;

    /// <inheritdoc />
    public Task AppendAsync(string actor, string action, string subject, string detail)
    {
        ArgumentException.ThrowIfNullOrEmpty(actor);
        ArgumentException.ThrowIfNullOrEmpty(action);
        ArgumentNullException.ThrowIfNull(subject);
        return audit.AppendAsync(new AuditRecord(timeProvider.GetUtcNow(), actor, action, subject, detail ?? string.Empty), CancellationToken.None);
    }

    /// <inheritdoc />
    public async Task<ImmutableArray<AuditEntry>> ReadAsync(string? subject, long? beforeId, int limit)
    {
        var records = await audit.ReadPageAsync(subject, beforeId, Math.Clamp(limit, 0, MaxPage), CancellationToken.None);
        return [.. records.Select(r => new AuditEntry(r.Id, r.Record.At, r.Record.Actor, r.Record.Action, r.Record.Subject, r.Record.Detail))];
    }
}
