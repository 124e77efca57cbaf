using System.Collections.Immutable;
using Elemta.Api.Cluster;

namespace Elemta.Api.Administration;

/// <summary>The cluster's silos and their state, from Orleans' management grain, for the REST API and the admin app.</summary>
public sealed class ClusterAdministration(IGrainFactory grains)
{
    /// <summary>Every silo the membership table knows, active ones first, with load for the active ones.</summary>
    public async Task<ClusterModel> GetAsync(CancellationToken cancellationToken)
    {
        var management = grains.GetGrain<IManagementGrain>(0);
        var hosts = await management.GetDetailedHosts(false, cancellationToken).ConfigureAwait(false);
        var active = hosts.Where(h => h.Status == SiloStatus.Active).Select(h => h.SiloAddress).ToArray();
        var statistics = active.Length == 0 ? [] : await management.GetRuntimeStatistics(active, cancellationToken).ConfigureAwait(false);
        var byAddress = active.Zip(statistics).ToDictionary(p => p.First, p => p.Second);
        var silos = hosts
            .OrderBy(h => h.Status == SiloStatus.Active ? 0 : 1).ThenByDescending(h => h.StartTime)
            .Select(h =>
            {
                var stats = byAddress.GetValueOrDefault(h.SiloAddress);
                return new SiloModel(
                    h.SiloAddress.ToParsableString(),
                    h.SiloName,
                    h.HostName,
                    h.Status.ToString(),
                    new DateTimeOffset(DateTime.SpecifyKind(h.StartTime, DateTimeKind.Utc)),
                    h.IAmAliveTime == default ? null : new DateTimeOffset(DateTime.SpecifyKind(h.IAmAliveTime, DateTimeKind.Utc)),
                    stats?.ActivationCount,
                    stats?.ClientCount,
                    stats?.IsOverloaded);
            })
            .ToImmutableArray();
        return new ClusterModel(silos);
    }
}
