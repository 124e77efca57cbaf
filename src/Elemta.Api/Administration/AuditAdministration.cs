using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Api.Administration;

/// <summary>The audit log as the admin plane reads it, newest first.</summary>
public sealed class AuditAdministration(IGrainFactory grains)
{
    /// <summary>
    /// Up to <paramref name="pageSize"/> records older than record <paramref name="before"/> (null: the newest),
    /// optionally about one <paramref name="subject"/>, and whether older ones follow.
    /// </summary>
    public async Task<(ImmutableArray<AuditEntry> Entries, bool More)> ReadAsync(string? subject, long? before, int pageSize, CancellationToken cancellationToken)
    {
        var entries = await grains.GetGrain<IAuditLogGrain>(IAuditLogGrain.Key)
            .ReadAsync(string.IsNullOrEmpty(subject) ? null : subject, before, pageSize + 1).WaitAsync(cancellationToken).ConfigureAwait(false);
        return entries.Length > pageSize ? (entries.RemoveAt(pageSize), true) : (entries, false);
    }
}
