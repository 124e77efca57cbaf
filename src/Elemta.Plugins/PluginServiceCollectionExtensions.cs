using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

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
        services.AddOptions<PluginOptions>().Bind(configuration.GetSection(PluginOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<PluginOptions>, PluginOptionsValidator>();
        services.AddSingleton(sp => new PluginHost(
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptionsMonitor<PluginOptions>>(),
            configuration,
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<PluginHost>>(),
            sp.GetServices<BuiltInPlugin>(),
            sp.GetService<Microsoft.Extensions.Logging.ILoggerFactory>()));
        services.AddHostedService(sp => sp.GetRequiredService<PluginHost>());
        return services;
    }

    /// <summary>
    /// Registers a plugin that ships with the server (<see cref="BuiltInPlugin"/>): created from the services when the
    /// plugin host starts, then run like a plugin from the folder. Its settings are <c>Elemta:Plugins:Items:&lt;Name&gt;</c>.
    /// </summary>
    /// <typeparam name="TPlugin">The plugin class; its constructor's parameters come from the services.</typeparam>
    /// <param name="services">The services.</param>
    /// <param name="name">The plugin's name, as its <see cref="IElemtaPlugin.Name"/> gives it.</param>
    /// <param name="enabledByDefault">Whether it runs when its <c>Enabled</c> setting is not set.</param>
    /// <param name="defaultOrder">Its order when its <c>Order</c> setting is not set (<see cref="BuiltInPlugin.DefaultOrder"/>).</param>
    /// <param name="defaultFailurePolicy">Its failure policy when its <c>FailurePolicy</c> setting is not set (<see cref="BuiltInPlugin.DefaultFailurePolicy"/>).</param>
    public static IServiceCollection AddElemtaBuiltInPlugin<TPlugin>(this IServiceCollection services, string name, bool enabledByDefault, int defaultOrder = 0,
        PluginFailurePolicy defaultFailurePolicy = PluginFailurePolicy.FailOpen)
        where TPlugin : class, IElemtaPlugin
    {
        services.AddSingleton(sp => new BuiltInPlugin(name, () => ActivatorUtilities.CreateInstance<TPlugin>(sp), enabledByDefault, defaultOrder, defaultFailurePolicy));
        return services;
    }
}

/// <summary>Checks <c>Elemta:Plugins</c> at start, naming the key of each bad value.</summary>
internal sealed class PluginOptionsValidator : IValidateOptions<PluginOptions>
{
    public ValidateOptionsResult Validate(string? name, PluginOptions options)
    {
        var failures = new List<string>();
        if (options.ReloadDelay < TimeSpan.Zero || options.ReloadDelay > TimeSpan.FromMinutes(1))
        {
            failures.Add($"Elemta:Plugins:ReloadDelay = {options.ReloadDelay} must be between 00:00:00 and 00:01:00.");
        }

        foreach (var (plugin, item) in options.Items)
        {
            if (item.Timeout <= TimeSpan.Zero || item.Timeout > TimeSpan.FromMinutes(5))
            {
                failures.Add($"Elemta:Plugins:Items:{plugin}:Timeout = {item.Timeout} must be positive and at most 00:05:00.");
            }

            if (!Enum.IsDefined(item.FailurePolicy))
            {
                failures.Add($"Elemta:Plugins:Items:{plugin}:FailurePolicy must be FailOpen or FailClosed.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
