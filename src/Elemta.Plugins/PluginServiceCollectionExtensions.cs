using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;

namespace Elemta.Plugins;

/// <summary>Registers the plugin host.</summary>
public static class PluginServiceCollectionExtensions
{
    /// <summary>
    /// Adds the <see cref="PluginHost"/> bound to <c>Elemta:Plugins</c>, as a hosted service. Register it before the
    /// services that call hooks (the SMTP listener), so plugins are loaded before the first connection. Idempotent.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The configuration root.</param>
    public static IServiceCollection AddElemtaPlugins(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (services.Any(d => d.ServiceType == typeof(PluginHost)))
        {
            return services;
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<PluginOptions>().Bind(configuration.GetSection(PluginOptions.SectionName))
            .Validate(o => o.ReloadDelay >= TimeSpan.Zero && o.ReloadDelay <= TimeSpan.FromMinutes(1), "Elemta:Plugins:ReloadDelay must be between 00:00:00 and 00:01:00.")
            .Validate(o => o.Items.Values.All(i => i.Timeout > TimeSpan.Zero && i.Timeout <= TimeSpan.FromMinutes(5)), "Elemta:Plugins:Items:<name>:Timeout must be positive and at most 00:05:00.")
            .Validate(o => o.Items.Values.All(i => Enum.IsDefined(i.FailurePolicy)), "Elemta:Plugins:Items:<name>:FailurePolicy must be FailOpen or FailClosed.")
            .ValidateOnStart();
        services.AddSingleton(sp => new PluginHost(
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<PluginOptions>>(),
            configuration,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<PluginHost>>()));
        services.AddHostedService(sp => sp.GetRequiredService<PluginHost>());
        return services;
    }
}
