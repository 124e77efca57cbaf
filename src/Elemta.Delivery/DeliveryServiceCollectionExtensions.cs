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
            .Validate(o => Enum.IsDefined(o.DefaultTlsPolicy) && o.TlsPolicies.Values.All(Enum.IsDefined),
                "Elemta:Delivery:DefaultTlsPolicy and Elemta:Delivery:TlsPolicies:<domain> must be None, Opportunistic, Required or Verify.")
            .Validate(_ => UnknownTlsPolicies(configuration) is null, "Elemta:Delivery:TlsPolicies: each value must be None, Opportunistic, Required or Verify.")
            .Validate(o => Enum.IsDefined(o.MinimumTlsVersion), "Elemta:Delivery:MinimumTlsVersion must be Tls12 or Tls13.")
            .Validate(o => o.MtaSts.HttpsPort is >= 1 and <= 65535, "Elemta:Delivery:MtaSts:HttpsPort must be between 1 and 65535.")
            .Validate(o => o.MtaSts.FetchTimeout > TimeSpan.Zero, "Elemta:Delivery:MtaSts:FetchTimeout must be positive.")
            .Validate(o => TrustAnchorsError(o) is null, "Elemta:Delivery:TrustedCertificateAuthorities must name a readable PEM file with at least one certificate.")
            .ValidateOnStart();
        // Relays, routes and rules: one message naming the first bad key (DeliveryRouting.Validate).
        services.TryAddEnumerable(ServiceDescriptor.Singleton<Microsoft.Extensions.Options.IValidateOptions<DeliveryOptions>, DeliveryRoutingValidator>());
        services.AddOptions<DnsOptions>().Bind(configuration.GetSection(DnsOptions.SectionName))
            .Validate(o => o.Timeout > TimeSpan.Zero, "Elemta:Dns:Timeout must be positive.")
            .Validate(o => o.Retries is >= 0 and <= 10, "Elemta:Dns:Retries must be between 0 and 10.")
            .Validate(o => o.CacheMaxEntries is >= 1 and <= 10_000_000, "Elemta:Dns:CacheMaxEntries must be between 1 and 10000000.")
            .Validate(o => o.CacheMaxTtl > TimeSpan.Zero, "Elemta:Dns:CacheMaxTtl must be positive.")
            .Validate(o => o.CacheMaxNegativeTtl >= TimeSpan.Zero, "Elemta:Dns:CacheMaxNegativeTtl must not be negative (00:00:00 turns negative caching off).")
            .ValidateOnStart();
        services.AddSingleton<DnsLookup>();
        services.AddSingleton<MxResolver>();
        services.AddSingleton<Tls.MtaStsResolver>();
        // The container disposes the agent (IAsyncDisposable) at shutdown, which closes its pooled connections with QUIT.
        services.AddSingleton(sp => new SmtpDeliveryAgent(
            sp.GetRequiredService<MxResolver>(),
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<DeliveryOptions>>(),
            sp.GetRequiredService<TimeProvider>(),
            sp.GetRequiredService<Microsoft.Extensions.Logging.ILogger<SmtpDeliveryAgent>>(),
            sp.GetRequiredService<Microsoft.Extensions.Options.IOptions<DeliveryOptions>>().Value.MtaSts.Enabled ? sp.GetRequiredService<Tls.MtaStsResolver>() : null));
        // IDeliveryAgent is the router: local domains to Maildir or LMTP, the rest to SmtpDeliveryAgent.
        services.AddLocalDelivery(configuration);
        return services;
    }

    /// <summary>
    /// The configuration binder leaves out dictionary entries whose value is not an enum name rather than failing, so a
    /// typo would silently turn a domain's Verify back into the default: the raw values are checked here.
    /// </summary>
    private static string? UnknownTlsPolicies(IConfiguration configuration)
    {
        var bad = configuration.GetSection($"{DeliveryOptions.SectionName}:{nameof(DeliveryOptions.TlsPolicies)}").GetChildren()
            .Where(c => !Enum.TryParse<Tls.TlsPolicy>(c.Value, ignoreCase: true, out var parsed) || !Enum.IsDefined(parsed) || int.TryParse(c.Value, out _))
            .Select(c => $"{c.Key}={c.Value}")
            .ToList();
        return bad.Count == 0 ? null : string.Join(", ", bad);
    }

    private static string? TrustAnchorsError(DeliveryOptions options) =>
        string.IsNullOrWhiteSpace(options.TrustedCertificateAuthorities)
        || Tls.OutboundTls.TryLoadTrustAnchors(options.TrustedCertificateAuthorities, out _, out var error)
            ? null
            : error;
}
