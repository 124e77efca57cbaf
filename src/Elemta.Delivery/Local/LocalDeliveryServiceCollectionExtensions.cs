using Elemta.Delivery.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Local;

/// <summary>Registers local delivery (Maildir, LMTP) and the router in front of SMTP delivery.</summary>
internal static class LocalDeliveryServiceCollectionExtensions
{
    /// <summary>
    /// Binds <c>Elemta:Delivery:LocalDomains</c>, registers the Maildir and LMTP agents, and makes
    /// <see cref="IDeliveryAgent"/> the <see cref="RoutingDeliveryAgent"/>; <see cref="SmtpDeliveryAgent"/> must be
    /// registered as itself.
    /// </summary>
    public static IServiceCollection AddLocalDelivery(this IServiceCollection services, IConfiguration configuration)
    {
        services.AddOptions<LocalDeliveryOptions>().Bind(configuration.GetSection(LocalDeliveryOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<LocalDeliveryOptions>, LocalDeliveryOptionsValidator>();
        services.AddSingleton<MaildirDeliveryAgent>();
        services.AddSingleton<LmtpDeliveryAgent>();
        services.AddSingleton<IDeliveryAgent, RoutingDeliveryAgent>();
        return services;
    }
}
