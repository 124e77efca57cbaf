using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Elemta.Api.Administration;

/// <summary>Registers the admin plane's services, which the REST API and the admin app share.</summary>
public static class AdministrationServiceCollectionExtensions
{
    /// <summary>
    /// Adds <see cref="QueueAdministration"/>, <see cref="KeyAdministration"/>, <see cref="UserAdministration"/>,
    /// <see cref="AuditAdministration"/>, <see cref="ClusterAdministration"/> and <see cref="AccessListAdministration"/> (the host provides an <see cref="IGrainFactory"/>).
    /// </summary>
    public static IServiceCollection AddElemtaAdministration(this IServiceCollection services)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.TryAddSingleton<QueueAdministration>();
        services.TryAddSingleton<KeyAdministration>();
        services.TryAddSingleton<UserAdministration>();
        services.TryAddSingleton<AuditAdministration>();
        services.TryAddSingleton<ClusterAdministration>();
        services.TryAddSingleton<AccessListAdministration>();
        return services;
    }
}
