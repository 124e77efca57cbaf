using Elemta.Auth;
using Elemta.Plugins;
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
    /// an Orleans client) and an <c>IMessageStore</c>; the acceptor, connection policy, user store and AUTH failure
    /// limiter can be replaced by registering them first.
    /// </summary>
    public static IServiceCollection AddElemtaSmtpServer(this IServiceCollection services, IConfiguration configuration)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<SmtpServerOptions>().Bind(configuration.GetSection(SmtpServerOptions.SectionName))
            .Validate(o => o.Port is >= 0 and <= 65535, "Elemta:Smtp:Port must be between 0 and 65535.")
            .Validate(o => o.MaxMessageSize >= 1024, "Elemta:Smtp:MaxMessageSize must be at least 1024 octets.")
            .Validate(o => o.MaxLineLength >= 998, "Elemta:Smtp:MaxLineLength must be at least 998 octets (RFC 5321 §4.5.3.1.6).")
            .Validate(o => o.MaxRecipients >= 1, "Elemta:Smtp:MaxRecipients must be at least 1.")
            .Validate(o => o.MaxErrors >= 1, "Elemta:Smtp:MaxErrors must be at least 1.")
            .Validate(o => o.CommandTimeout > TimeSpan.Zero && o.DataTimeout > TimeSpan.Zero, "Elemta:Smtp:CommandTimeout and DataTimeout must be positive.")
            .Validate(o => o.SessionTimeout > TimeSpan.Zero && o.SessionTimeout <= TimeSpan.FromDays(49), "Elemta:Smtp:SessionTimeout must be positive and at most 49 days.")
            // Clients wait 5 minutes for the greeting (RFC 5321 §4.5.3.2.1); a pause anywhere near that loses mail.
            .Validate(o => o.GreetingDelay >= TimeSpan.Zero && o.GreetingDelay <= TimeSpan.FromMinutes(1), "Elemta:Smtp:GreetingDelay must be between 00:00:00 and 00:01:00.")
            .Validate(o => o.WakeTimeout >= TimeSpan.Zero && o.WakeTimeout <= TimeSpan.FromMinutes(1), "Elemta:Smtp:WakeTimeout must be between 00:00:00 and 00:01:00.")
            .Validate(o => o.MaxMessagesPerConnection >= 1, "Elemta:Smtp:MaxMessagesPerConnection must be at least 1.")
            .Validate(o => ValidNetworks(o), "Elemta:Smtp:TrustedNetworks (or RelayNetworks) entries must be networks in CIDR form such as 192.0.2.0/24.")
            .Validate(o => o.TrustedNetworks.Count == 0 || o.RelayNetworks.Count == 0, "Elemta:Smtp:RelayNetworks is the former name of TrustedNetworks: set only TrustedNetworks.")
            .Validate(o => o.AuthMechanisms.All(m => SmtpServerOptions.KnownAuthMechanisms.Contains(m, StringComparer.OrdinalIgnoreCase)), "Elemta:Smtp:AuthMechanisms entries must be SCRAM-SHA-256, CRAM-MD5, PLAIN or LOGIN.")
            .Validate(o => o.SubmissionPort is null or (>= 0 and <= 65535), "Elemta:Smtp:SubmissionPort must be between 0 and 65535.")
            .Validate(o => o.MaxConnections >= 1 && o.MaxConnectionsPerIp >= 1, "Elemta:Smtp:MaxConnections and MaxConnectionsPerIp must be at least 1.")
            .Validate(o => o.ConnectionLeaseTime >= TimeSpan.FromSeconds(1) && o.ConnectionLeaseTime <= TimeSpan.FromDays(1), "Elemta:Smtp:ConnectionLeaseTime must be between 00:00:01 and 1.00:00:00.")
            .ValidateOnStart();
        // Read by key: the front-end does not depend on the delivery project, only on where its settings live.
        services.PostConfigure<SmtpServerOptions>(o => o.LocalDomains =
            [.. configuration.GetSection("Elemta:Delivery:LocalDomains").GetChildren().Select(domain => domain.Key)]);
        services.AddOptions<PriorityRulesOptions>().Bind(configuration.GetSection(PriorityRulesOptions.SectionName)).ValidateOnStart();
        services.TryAddSingleton<IMessageAcceptor, GrainMessageAcceptor>();
        services.TryAddSingleton<Admission.IConnectionLimiter, Admission.RateLimitConnectionLimiter>();
        services.TryAddSingleton<IUserStore, GrainUserStore>();
        services.TryAddSingleton<IAuthFailureLimiter, RateLimitAuthFailureLimiter>();
        services.AddElemtaCredentials(configuration);
        // Before the listener: its hosted service starts after the plugin host's, so plugins are loaded first.
        services.AddElemtaPlugins(configuration);
        // The front-end's own admission policies run on the plugin API like any plugin, and come with every front-end
        // (a separate one too): the per-address connection limits and the AUTH failure lockout. On by default, first
        // by their order; Elemta:Plugins:Items:<name>:Enabled = false turns one off.
        services.AddElemtaBuiltInPlugin<Admission.ConnectionLimitsPlugin>(Admission.ConnectionLimitsPlugin.PluginName, enabledByDefault: true, Admission.ConnectionLimitsPlugin.DefaultOrder,
            Elemta.Plugins.PluginFailurePolicy.FailClosed);
        services.AddElemtaBuiltInPlugin<Admission.AuthLockoutPlugin>(Admission.AuthLockoutPlugin.PluginName, enabledByDefault: true, Admission.AuthLockoutPlugin.DefaultOrder,
            Elemta.Plugins.PluginFailurePolicy.FailClosed);
        services.AddSingleton<SmtpServerContext>();
        services.TryAddSingleton<SmtpListenerStatus>();
        services.AddSingleton<SmtpListener>();
        services.AddHostedService(sp => sp.GetRequiredService<SmtpListener>());
        return services;
    }

    private static bool ValidNetworks(SmtpServerOptions options)
    {
        try
        {
            _ = new Protocol.NetworkList(options.EffectiveTrustedNetworks);
            return true;
        }
        catch (FormatException)
        {
            return false;
        }
    }
}
