using Elemta.Smtp;
using Elemta.Storage.Observability;
using Elemta.Storage.Relational;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Orleans.Runtime;

namespace Elemta.Silo.Observability;

/// <summary>Ready only while the database answers a trivial query within <see cref="Timeout"/>.</summary>
internal sealed class DatabaseHealthCheck(StoreDatabase database) : IHealthCheck
{
    /// <summary>How long the query may take before the database counts as unreachable.</summary>
    internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(Timeout);
        try
        {
            await database.PingAsync(timeout.Token).ConfigureAwait(false);
            return HealthCheckResult.Healthy($"{database.Dialect.Name} answers");
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            StorageMetrics.HealthCheckFailed();
            return HealthCheckResult.Unhealthy($"{database.Dialect.Name} does not answer: {ex.Message}");
        }
    }
}

/// <summary>Ready only while this silo is Active in the cluster's membership (not joining, shutting down or declared dead).</summary>
internal sealed class SiloHealthCheck(IClusterMembershipService membership, ILocalSiloDetails local) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var status = membership.CurrentSnapshot.GetSiloStatus(local.SiloAddress);
        return Task.FromResult(status == SiloStatus.Active
            ? HealthCheckResult.Healthy($"silo {local.SiloAddress} is active")
            : HealthCheckResult.Unhealthy($"silo {local.SiloAddress} is {status}"));
    }
}

/// <summary>Ready only while the SMTP listener holds its sockets.</summary>
internal sealed class SmtpListenerHealthCheck(SmtpListenerStatus listener) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(listener.IsListening
            ? HealthCheckResult.Healthy($"SMTP listening on {string.Join(", ", listener.EndPoints)}")
            : HealthCheckResult.Unhealthy("SMTP listener not bound"));
}

/// <summary>
/// <c>elemta web</c>: ready only while the cluster answers a grain call (the management grain's list of active silos)
/// within <see cref="Timeout"/> and has at least one active silo.
/// </summary>
internal sealed class ClusterHealthCheck(IGrainFactory grains) : IHealthCheck
{
    /// <summary>How long the call may take before the cluster counts as unreachable.</summary>
    internal static readonly TimeSpan Timeout = TimeSpan.FromSeconds(5);

    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        try
        {
            var hosts = await grains.GetGrain<IManagementGrain>(0).GetHosts(onlyActive: true, cancellationToken).WaitAsync(Timeout, cancellationToken).ConfigureAwait(false);
            return hosts.Count > 0
                ? HealthCheckResult.Healthy($"{hosts.Count} active silo(s) answer")
                : HealthCheckResult.Unhealthy("the cluster has no active silo");
        }
        catch (Exception ex) when (!cancellationToken.IsCancellationRequested)
        {
            return HealthCheckResult.Unhealthy($"the cluster does not answer: {ex.Message}");
        }
    }
}
