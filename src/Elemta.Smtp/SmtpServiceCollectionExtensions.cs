using Elemta.Smtp.Server;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Elemta.Smtp;

/// <summary>Registers the SMTP front-end.</summary>
public static class SmtpServiceCollectionExtensions
{
    /// <summary>
    /// Adds the SMTP listener bound to <c>Elemta:Smtp</c>. Needs an <see cref="IGrainFactory"/> (a co-hosted silo or
    /// an Orleans client) and an <c>IMessageStore</c>; the acceptor and connection policy can be replaced.
    /// </summary>
    public static IServiceCollection AddElemtaSmtpServer(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<SmtpServerOptions>().Bind(configuration.GetSection(SmtpServerOptions.SectionName))
            .Validate(o => o.Port is >= 0 and <= 65535, "Elemta:Smtp:Port must be between 0 and 65535.")
            .Validate(o => o.MaxMessageSize >= 1024, "Elemta:Smtp:MaxMessageSize must be at least 1024 octets.")
            .Validate(o => o.MaxRecipients >= 1, "Elemta:Smtp:MaxRecipients must be at least 1.")
            .Validate(o => o.MaxErrors >= 1, "Elemta:Smtp:MaxErrors must be at least 1.")
            .Validate(o => o.CommandTimeout > TimeSpan.Zero && o.DataTimeout > TimeSpan.Zero, "Elemta:Smtp:CommandTimeout and DataTimeout must be positive.")
            .Validate(o => ValidNetworks(o), "Elemta:Smtp:RelayNetworks entries must be networks in CIDR form such as 192.0.2.0/24.")
            .ValidateOnStart();
        services.TryAddSingleton<IMessageAcceptor, GrainMessageAcceptor>();
        services.TryAddSingleton<IConnectionPolicy, RateLimitConnectionPolicy>();
        services.AddSingleton<SmtpServerContext>();
        services.AddSingleton<SmtpListener>();
        services.AddHostedService(sp => sp.GetRequiredService<SmtpListener>());
        return services;
    }

    private static bool ValidNetworks(SmtpServerOptions options)
    {
        try
        {
            _ = new Protocol.NetworkList(options.EffectiveRelayNetworks);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
