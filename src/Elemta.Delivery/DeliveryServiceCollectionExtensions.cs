using Elemta.Delivery.Dns;
using Elemta.Delivery.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Elemta.Delivery;

/// <summary>Registers outbound delivery.</summary>
public static class DeliveryServiceCollectionExtensions
{
    /// <summary>Registers MX resolution and SMTP delivery, bound to <c>Elemta:Delivery</c> and <c>Elemta:Dns</c>.</summary>
    public static IServiceCollection AddElemtaDelivery(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<DeliveryOptions>().Bind(configuration.GetSection(DeliveryOptions.SectionName))
            .Validate(o => o.SmtpPort is >= 1 and <= 65535, "Elemta:Delivery:SmtpPort must be between 1 and 65535.")
            .Validate(o => o.ConnectTimeout > TimeSpan.Zero, "Elemta:Delivery:ConnectTimeout must be positive.")
            .Validate(o => o.CommandTimeout > TimeSpan.Zero, "Elemta:Delivery:CommandTimeout must be positive.")
            .ValidateOnStart();
        services.AddOptions<DnsOptions>().Bind(configuration.GetSection(DnsOptions.SectionName))
            .Validate(o => o.Timeout > TimeSpan.Zero, "Elemta:Dns:Timeout must be positive.")
            .Validate(o => o.Retries is >= 0 and <= 10, "Elemta:Dns:Retries must be between 0 and 10.")
            .ValidateOnStart();
        services.AddSingleton<MxResolver>();
        services.AddSingleton<IDeliveryAgent, SmtpDeliveryAgent>();
        return services;
    }
}
