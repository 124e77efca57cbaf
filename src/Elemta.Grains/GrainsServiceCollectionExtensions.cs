using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Elemta.Grains;

/// <summary>Registers what Elemta's grains need in a silo.</summary>
public static class GrainsServiceCollectionExtensions
{
    /// <summary>Binds and validates <c>Elemta:Queue</c> and <c>Elemta:RateLimit</c> and adds the queue sweeper.</summary>
    public static IServiceCollection AddElemtaGrains(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<QueueOptions>().Bind(configuration.GetSection(QueueOptions.SectionName))
            .Validate(o => o.RetrySchedule.All(t => t > TimeSpan.Zero), "Elemta:Queue:RetrySchedule entries must be positive time spans such as 00:05:00.")
            .Validate(o => o.MaxQueueLifetime > TimeSpan.Zero, "Elemta:Queue:MaxQueueLifetime must be positive.")
            .Validate(o => o.MaxConcurrentDeliveriesPerDomain is >= 1 and <= 1000, "Elemta:Queue:MaxConcurrentDeliveriesPerDomain must be between 1 and 1000.")
            .Validate(o => o.SweepInterval >= TimeSpan.FromMilliseconds(100), "Elemta:Queue:SweepInterval must be at least 00:00:00.1.")
            .ValidateOnStart();
        services.AddOptions<RateLimitOptions>().Bind(configuration.GetSection(RateLimitOptions.SectionName))
            .Validate(o => o.ConnectionsPerIp.Capacity >= 1 && o.ConnectionsPerIp.PerSecond >= 0, "Elemta:RateLimit:ConnectionsPerIp needs Capacity >= 1 and PerSecond >= 0.")
            .Validate(o => o.AuthFailuresPerIp.Capacity >= 1 && o.AuthFailuresPerIp.PerSecond > 0, "Elemta:RateLimit:AuthFailuresPerIp needs Capacity >= 1 and PerSecond > 0.")
            .Validate(o => o.AuthFailuresPerUser.Capacity >= 1 && o.AuthFailuresPerUser.PerSecond > 0, "Elemta:RateLimit:AuthFailuresPerUser needs Capacity >= 1 and PerSecond > 0.")
            .ValidateOnStart();
        services.AddHostedService<QueueSweeper>();
        return services;
    }
}
