using System.Collections.Immutable;
using Elemta.Api.Administration;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Elemta.Api.Cluster;

/// <summary>One silo of the cluster as its membership table and its runtime statistics describe it.</summary>
/// <param name="Address">The silo's address (<c>ip:port@generation</c>).</param>
/// <param name="Name">The silo's name.</param>
/// <param name="HostName">The machine it runs on.</param>
/// <param name="Status">Membership status: <c>Active</c>, <c>Joining</c>, <c>ShuttingDown</c>, <c>Dead</c>, ….</param>
/// <param name="StartedAt">When it started.</param>
/// <param name="LastAliveAt">When it last said it was alive in the membership table.</param>
/// <param name="Activations">Grain activations it holds (active silos only).</param>
/// <param name="Clients">Orleans clients connected to its gateway (active silos only).</param>
/// <param name="Overloaded">Whether it refuses new work because it is overloaded (active silos only).</param>
public sealed record SiloModel(
    string Address,
    string? Name,
    string? HostName,
    string Status,
    DateTimeOffset StartedAt,
    DateTimeOffset? LastAliveAt,
    int? Activations,
    long? Clients,
    bool? Overloaded);

/// <summary>The cluster's silos, active ones first.</summary>
public sealed record ClusterModel(ImmutableArray<SiloModel> Silos);

/// <summary><c>GET /api/cluster</c>: the silos and their state, from Orleans' management grain.</summary>
internal static class ClusterEndpoints
{
    public static void MapCluster(this RouteGroupBuilder api) =>
        api.MapGet("/cluster", GetAsync).WithTags("Cluster").WithName("GetCluster").WithSummary("Silos, their membership status and load.");

    private static async Task<Ok<ClusterModel>> GetAsync(ClusterAdministration cluster, CancellationToken ct) =>
        TypedResults.Ok(await cluster.GetAsync(ct));
}
