using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;

namespace Elemta.Auth;

/// <summary>Registers the credential settings.</summary>
public static class CredentialServiceCollectionExtensions
{
    /// <summary>Binds and validates <c>Elemta:Auth</c> (<see cref="CredentialOptions"/>) once, however often it is called.</summary>
    public static IServiceCollection AddElemtaCredentials(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(services);
        if (services.Any(d => d.ServiceType == typeof(CredentialsMarker)))
        {
            return services;
        }

        services.AddSingleton<CredentialsMarker>();
        services.AddOptions<CredentialOptions>().Bind(configuration.GetSection(CredentialOptions.SectionName))
            .Validate(o => o.Validate() is null, "Elemta:Auth: PasswordIterations must be at least 10000 and ScramIterations at least 4096.")
            .ValidateOnStart();
        return services;
    }

    private sealed class CredentialsMarker;
}
