using Elemta.Contracts;

namespace Elemta.Api.Administration;

/// <summary>
/// The IP access list as the admin plane manages it (the REST API's <c>/api/access-list</c>): through the access-list
/// grain, which validates and normalises networks and records each change in the audit log with the actor.
/// </summary>
public sealed class AccessListAdministration(IGrainFactory grains)
{
    /// <summary>The list and its version.</summary>
    public Task<AccessList> GetAsync(CancellationToken cancellationToken) =>
        List.GetAsync().WaitAsync(cancellationToken);

    /// <summary>Adds or replaces the entry for <paramref name="network"/>.</summary>
    public Task<AccessListChange> SetAsync(string network, AccessListAction action, string comment, string actor, CancellationToken cancellationToken) =>
        List.SetAsync(network, action, comment, actor).WaitAsync(cancellationToken);

    /// <summary>Removes the entry for <paramref name="network"/>.</summary>
    public Task<AccessListChange> RemoveAsync(string network, string actor, CancellationToken cancellationToken) =>
        List.RemoveAsync(network, actor).WaitAsync(cancellationToken);

    private IAccessListGrain List => grains.GetGrain<IAccessListGrain>(IAccessListGrain.DefaultKey);
}
