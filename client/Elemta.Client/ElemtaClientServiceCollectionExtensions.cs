using Elemta.Client;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the Elemta client SDK.</summary>
public static class ElemtaClientServiceCollectionExtensions
{
    /// <summary>
    /// Adds an Orleans client connected to the Elemta cluster described by <paramref name="configure"/>, and
    /// <see cref="ElemtaClient"/> (also as <see cref="IElemtaClient"/>) on top of it. The options are validated here,
    /// so a bad setting fails at registration with every problem listed; the connection is made when the host starts.
    /// </summary>
    public static IServiceCollection AddElemtaClient(this IServiceCollection services, Action<ElemtaClientOptions> configure)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configure);
        var options = new ElemtaClientOptions();
        configure(options);
        ElemtaClientConnection.Validate(options);

        services.AddOptions<ElemtaClientOptions>().Configure(configure).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ElemtaClientOptions>, ElemtaClientOptionsValidator>();
        services.AddOrleansClient(client => ElemtaClientConnection.Configure(client, options));
        services.AddSingleton(sp => new ElemtaClient(sp.GetRequiredService<IClusterClient>(), sp.GetService<TimeProvider>()));
        services.AddSingleton<IElemtaClient>(sp => sp.GetRequiredService<ElemtaClient>());
        return services;
    }

    /// <summary>
    /// Adds the client with its options bound from <paramref name="configuration"/> (conventionally the section
    /// <see cref="ElemtaClientOptions.SectionName"/>: <c>Clustering</c>, <c>GatewayPort</c>, <c>Gateways:0</c>…,
    /// <c>ConnectionString</c>, <c>ServiceId</c>, <c>ClusterId</c>, <c>ConnectTimeout</c>).
    /// </summary>
    public static IServiceCollection AddElemtaClient(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        return services.AddElemtaClient(o => configuration.Bind(o));
    }
}
