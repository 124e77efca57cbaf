using Elemta.Bounces;
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
            .Validate(o => o.RetryJitter is >= 0 and < 1, "Elemta:Queue:RetryJitter must be a fraction from 0 up to (not including) 1, such as 0.1.")
            .Validate(o => o.DelayWarningAfter >= TimeSpan.Zero, "Elemta:Queue:DelayWarningAfter must be 00:00:00 (off) or positive.")
            .Validate(o => o.CircuitBreakerThreshold >= 0, "Elemta:Queue:CircuitBreakerThreshold must be 0 (off) or more.")
            .Validate(o => o.DeliveredRetention >= TimeSpan.Zero && o.FailedRetention >= TimeSpan.Zero, "Elemta:Queue:DeliveredRetention and FailedRetention must be 00:00:00 or positive.")
            .ValidateOnStart();
        services.AddOptions<RateLimitOptions>().Bind(configuration.GetSection(RateLimitOptions.SectionName))
            .Validate(o => o.ConnectionsPerIp.Capacity >= 1 && o.ConnectionsPerIp.PerSecond >= 0, "Elemta:RateLimit:ConnectionsPerIp needs Capacity >= 1 and PerSecond >= 0.")
            .Validate(o => o.AuthFailuresPerIp.Capacity >= 1 && o.AuthFailuresPerIp.PerSecond > 0, "Elemta:RateLimit:AuthFailuresPerIp needs Capacity >= 1 and PerSecond > 0.")
            .Validate(o => o.AuthFailuresPerUser.Capacity >= 1 && o.AuthFailuresPerUser.PerSecond > 0, "Elemta:RateLimit:AuthFailuresPerUser needs Capacity >= 1 and PerSecond > 0.")
            .ValidateOnStart();
        services.AddOptions<DestinationOptions>().Bind(configuration.GetSection(DestinationOptions.SectionName))
            .Validate(o => o.MaxConcurrency >= 1, "Elemta:Queue:Destinations:MaxConcurrency must be at least 1.")
            .Validate(o => o.MessagesPerMinute >= 0, "Elemta:Queue:Destinations:MessagesPerMinute must be 0 (no limit) or more.")
            .Validate(o => o.RecoverAfterSuccesses >= 1, "Elemta:Queue:Destinations:RecoverAfterSuccesses must be at least 1.")
            .Validate(o => o.Sites.Values.All(l => l.MaxConcurrency is null or >= 1 && l.MessagesPerMinute is null or >= 0),
                "Elemta:Queue:Destinations:Sites entries need MaxConcurrency >= 1 and MessagesPerMinute >= 0.")
            .ValidateOnStart();
        services.TryAddSingleton<DestinationSites>();
        services.AddElemtaBounces(configuration);
        services.TryAddSingleton<IDeliveryNotifier, DeliveryNotifier>();
        // The plugin host when the silo has one (the SMTP front-end adds it), none otherwise.
        services.TryAddSingleton(sp => new QueuePluginHooks(sp.GetService<Elemta.Plugins.PluginHost>() ?? Elemta.Plugins.PluginHost.None, sp.GetRequiredService<TimeProvider>()));
        services.AddHostedService<QueueSweeper>();
        services.AddHostedService<QueueRetention>();
        return services;
    }
}
