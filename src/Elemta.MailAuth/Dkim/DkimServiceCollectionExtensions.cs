using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Elemta.MailAuth.Dkim;

/// <summary>Registers DKIM signing and verification.</summary>
public static class DkimServiceCollectionExtensions
{
    /// <summary>
    /// Binds <see cref="DkimOptions"/> to <c>Elemta:Dkim</c>, validated at start (<see cref="DkimOptionsValidator"/>:
    /// a bad key file stops the start naming its key), and registers <see cref="DkimSigner"/>,
    /// <see cref="DnsDkimKeyLocator"/> and <see cref="DkimVerifier"/> as singletons. Idempotent.
    /// </summary>
    /// <param name="services">The services.</param>
    /// <param name="configuration">The configuration root.</param>
    public static IServiceCollection AddElemtaDkim(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        if (services.Any(d => d.ServiceType == typeof(DkimSigner)))
        {
            return services;
        }

        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<DkimOptions>().Bind(configuration.GetSection(DkimOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DkimOptions>, DkimOptionsValidator>();
        services.AddSingleton(sp => new DkimSigner(sp.GetRequiredService<IOptions<DkimOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new DnsDkimKeyLocator(sp.GetRequiredService<IOptions<DkimOptions>>().Value.Verification, sp.GetRequiredService<TimeProvider>()));
        services.AddSingleton(sp => new DkimVerifier(
            sp.GetRequiredService<DnsDkimKeyLocator>(), sp.GetRequiredService<IOptions<DkimOptions>>().Value.Verification, sp.GetRequiredService<TimeProvider>()));
        return services;
    }
}
