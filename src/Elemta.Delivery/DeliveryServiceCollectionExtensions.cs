using Elemta.Delivery.Dns;
using Elemta.Delivery.Local;
using Elemta.Delivery.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Elemta.Delivery;

/// <summary>Registers outbound delivery.</summary>
public static class DeliveryServiceCollectionExtensions
{
    /// <summary>Registers MX resolution, SMTP and local delivery behind a router, bound to <c>Elemta:Delivery</c> and <c>Elemta:Dns</c>.</summary>
    public static IServiceCollection AddElemtaDelivery(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<DeliveryOptions>().Bind(configuration.GetSection(DeliveryOptions.SectionName))
            .Validate(o => o.SmtpPort is >= 1 and <= 65535, "Elemta:Delivery:SmtpPort must be between 1 and 65535.")
            .Validate(o => o.ConnectTimeout > TimeSpan.Zero, "Elemta:Delivery:ConnectTimeout must be positive.")
            .Validate(o => o.CommandTimeout > TimeSpan.Zero, "Elemta:Delivery:CommandTimeout must be positive.")
            .Validate(o => o.MaxMessagesPerConnection >= 1, "Elemta:Delivery:MaxMessagesPerConnection must be at least 1.")
            .Validate(o => o.ConnectionIdleTimeout > TimeSpan.Zero && o.ConnectionIdleTimeout <= TimeSpan.FromMinutes(5),
                "Elemta:Delivery:ConnectionIdleTimeout must be positive and at most 00:05:00 (RFC 5321 §4.5.3.2.7: servers may close idle sessions after 5 minutes).")
            .Validate(o => o.MaxIdleConnectionsPerDestination >= 0, "Elemta:Delivery:MaxIdleConnectionsPerDestination must be 0 or more.")
            .ValidateOnStart();
        services.AddOptions<DnsOptions>().Bind(configuration.GetSection(DnsOptions.SectionName))
            .Validate(o => o.Timeout > TimeSpan.Zero, "Elemta:Dns:Timeout must be positive.")
            .Validate(o => o.Retries is >= 0 and <= 10, "Elemta:Dns:Retries must be between 0 and 10.")
            .ValidateOnStart();
        services.AddSingleton<MxResolver>();
        // The container disposes the agent (IAsyncDisposable) at shutdown, which closes its pooled connections with QUIT.
        services.AddSingleton<SmtpDeliveryAgent>();
        // IDeliveryAgent is the router: local domains to Maildir or LMTP, the rest to SmtpDeliveryAgent.
        services.AddLocalDelivery(configuration);
        return services;
    }
}
