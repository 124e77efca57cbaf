using Elemta.MailAuth.Dkim;
using Elemta.Plugins;
using Elemta.Policies.DkimSigning;
using Elemta.Policies.AccessLists;
using Elemta.Policies.Dnsbl;
using Elemta.Policies.Greylisting;
using Elemta.Policies.MailAuthentication;
using Elemta.Policies.RateLimits;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Elemta.Policies;

/// <summary>Registers Elemta's own mail policies as built-in plugins.</summary>
public static class PoliciesServiceCollectionExtensions
{
    /// <summary>
    /// Adds the IP access list (<c>Elemta:AccessList</c>; on, empty until filled at run time), mail authentication (<c>Elemta:MailAuth</c>; on by default), the message and recipient rate limits
    /// (<c>Elemta:RateLimit</c>; on when a limit is configured) and the rspamd and ClamAV scanners (off until enabled)
    /// as built-in plugins. Needs the plugin host
    /// (<c>AddElemtaPlugins</c>), an <see cref="IGrainFactory"/> and the server's DNS lookup.
    /// </summary>
    public static IServiceCollection AddElemtaPolicies(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<MailAuthenticationOptions>().Bind(configuration.GetSection(MailAuthenticationOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MailAuthenticationOptions>, MailAuthenticationOptionsValidator>();
        services.AddOptions<MessageRateLimitOptions>().Bind(configuration.GetSection(MessageRateLimitOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<MessageRateLimitOptions>, MessageRateLimitOptionsValidator>();
        services.AddOptions<DnsblOptions>().Bind(configuration.GetSection(DnsblOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<DnsblOptions>, DnsblOptionsValidator>();
        services.AddOptions<GreylistingOptions>().Bind(configuration.GetSection(GreylistingOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<GreylistingOptions>, GreylistingOptionsValidator>();
        services.AddElemtaDkim(configuration);
        // DKIM keys are asked for through the server's DNS lookup (Elemta:Dns: its servers and its answer cache), unless
        // Elemta:Dkim:Verification:Servers names servers of their own.
        services.Replace(ServiceDescriptor.Singleton(sp =>
        {
            var verification = sp.GetRequiredService<IOptions<DkimOptions>>().Value.Verification;
            var time = sp.GetRequiredService<TimeProvider>();
            return verification.Servers.Count > 0
                ? new DnsDkimKeyLocator(verification, time)
                : new DnsDkimKeyLocator(sp.GetRequiredService<Elemta.Delivery.Dns.DnsLookup>().QueryAsync, verification, time);
        }));
        services.AddOptions<AccessListOptions>().Bind(configuration.GetSection(AccessListOptions.SectionName)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AccessListOptions>, AccessListOptionsValidator>();
        // On by default: with an empty list a connection costs one check of the cached copy, no grain call.
        services.AddElemtaBuiltInPlugin<AccessListPlugin>(AccessListPlugin.PluginName, enabledByDefault: true);
        services.AddElemtaBuiltInPlugin<MailAuthenticationPlugin>(MailAuthenticationPlugin.PluginName, enabledByDefault: true);
        var signing = configuration.GetSection(DkimOptions.SectionName).Get<DkimOptions>()?.Signing.Count > 0;
        services.AddElemtaBuiltInPlugin<DkimSigningPlugin>(DkimSigningPlugin.PluginName, enabledByDefault: signing);
        var dnsbl = configuration.GetSection(DnsblOptions.SectionName).Get<DnsblOptions>() ?? new DnsblOptions();
        services.AddElemtaBuiltInPlugin<DnsblPlugin>(DnsblPlugin.PluginName, enabledByDefault: dnsbl.Zones.Count > 0);
        var greylisting = configuration.GetSection(GreylistingOptions.SectionName).Get<GreylistingOptions>() ?? new GreylistingOptions();
        services.AddElemtaBuiltInPlugin<GreylistingPlugin>(GreylistingPlugin.PluginName, enabledByDefault: greylisting.Enabled);
        var rates = configuration.GetSection(MessageRateLimitOptions.SectionName).Get<MessageRateLimitOptions>() ?? new MessageRateLimitOptions();
        // Off unless a limit is set: with none, the plugin would only cost each RCPT a call.
        services.AddElemtaBuiltInPlugin<MessageRateLimitPlugin>(MessageRateLimitPlugin.PluginName, enabledByDefault: rates.AnyOn);
        // The content scanners ship with the server but need a daemon: off until Elemta:Plugins:Items:<Name>:Enabled.
        services.AddElemtaBuiltInPlugin<Elemta.Plugins.Rspamd.RspamdPlugin>("Rspamd", enabledByDefault: false);
        services.AddElemtaBuiltInPlugin<Elemta.Plugins.ClamAv.ClamAvPlugin>("ClamAV", enabledByDefault: false);
        // Postfix policy delegation needs a policy server: off until enabled with its Endpoint.
        services.AddElemtaBuiltInPlugin<Elemta.Plugins.PolicyDelegation.PolicyDelegationPlugin>("PolicyDelegation", enabledByDefault: false);
        return services;
    }
}

/// <summary>Checks <c>Elemta:AccessList</c> at start.</summary>
internal sealed class AccessListOptionsValidator : IValidateOptions<AccessListOptions>
{
    public ValidateOptionsResult Validate(string? name, AccessListOptions options) =>
        options.RefreshInterval < TimeSpan.FromSeconds(1) || options.RefreshInterval > TimeSpan.FromMinutes(10)
            ? ValidateOptionsResult.Fail($"Elemta:AccessList:RefreshInterval = {options.RefreshInterval} must be between 00:00:01 and 00:10:00.")
            : ValidateOptionsResult.Success;
}

/// <summary>Checks <c>Elemta:MailAuth</c> at start.</summary>
internal sealed class MailAuthenticationOptionsValidator : IValidateOptions<MailAuthenticationOptions>
{
    public ValidateOptionsResult Validate(string? name, MailAuthenticationOptions options)
    {
        if (options.AuthServId is { } id && (id.Length == 0 || id.Any(c => char.IsWhiteSpace(c) || char.IsControl(c) || c is ';' or '(' or ')')))
        {
            return ValidateOptionsResult.Fail($"Elemta:MailAuth:AuthServId = '{id}' must be a host name (no spaces, ';' or parentheses).");
        }

        if (!Enum.IsDefined(options.Spf.FailAction) || !Enum.IsDefined(options.Spf.TempErrorAction))
        {
            return ValidateOptionsResult.Fail("Elemta:MailAuth:Spf:FailAction must be Record or Reject, and TempErrorAction Record or Defer.");
        }

        if (options.Arc.Seal is { } seal)
        {
            if (string.IsNullOrWhiteSpace(seal.Domain) || string.IsNullOrWhiteSpace(seal.Selector) || string.IsNullOrWhiteSpace(seal.KeyFile))
            {
                return ValidateOptionsResult.Fail("Elemta:MailAuth:Arc:Seal needs Domain, Selector and KeyFile.");
            }

            try
            {
                using var key = File.OpenRead(seal.KeyFile);
                _ = new Elemta.MailAuth.Arc.ArcSealer(new Elemta.MailAuth.Arc.ArcSealerSettings { Domain = seal.Domain, Selector = seal.Selector, AuthServId = "check" }, key);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                return ValidateOptionsResult.Fail($"Elemta:MailAuth:Arc:Seal:KeyFile = {seal.KeyFile}: {ex.Message}");
            }
        }

        if (!Enum.IsDefined(options.Dmarc.QuarantineAction))
        {
            return ValidateOptionsResult.Fail("Elemta:MailAuth:Dmarc:QuarantineAction must be Header or Hold.");
        }

        if (options.Dmarc.PublicSuffixFile is { } file)
        {
            try
            {
                _ = Elemta.MailAuth.PublicSuffix.PublicSuffixList.LoadFile(file);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or ArgumentException)
            {
                return ValidateOptionsResult.Fail($"Elemta:MailAuth:Dmarc:PublicSuffixFile = {file} cannot be read as a Public Suffix List: {ex.Message}");
            }
        }

        return ValidateOptionsResult.Success;
    }
}

/// <summary>Checks the message and recipient rates of <c>Elemta:RateLimit</c> at start.</summary>
internal sealed class MessageRateLimitOptionsValidator : IValidateOptions<MessageRateLimitOptions>
{
    public ValidateOptionsResult Validate(string? name, MessageRateLimitOptions options)
    {
        var failures = new List<string>();
        foreach (var (key, rate) in new[]
        {
            (nameof(options.MessagesPerIp), options.MessagesPerIp), (nameof(options.MessagesPerSender), options.MessagesPerSender),
            (nameof(options.MessagesPerUser), options.MessagesPerUser), (nameof(options.RecipientsPerIp), options.RecipientsPerIp),
            (nameof(options.RecipientsPerSender), options.RecipientsPerSender), (nameof(options.RecipientsPerUser), options.RecipientsPerUser),
        })
        {
            if (rate.Limit < 0)
            {
                failures.Add($"Elemta:RateLimit:{key}:Limit = {rate.Limit} must be 0 (off) or more.");
            }

            if (rate.IsOn && (rate.Window < TimeSpan.FromSeconds(1) || rate.Window > TimeSpan.FromDays(7)))
            {
                failures.Add($"Elemta:RateLimit:{key}:Window = {rate.Window} must be between 00:00:01 and 7.00:00:00.");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Checks <c>Elemta:Dnsbl</c> at start.</summary>
internal sealed class DnsblOptionsValidator : IValidateOptions<DnsblOptions>
{
    public ValidateOptionsResult Validate(string? name, DnsblOptions options)
    {
        var failures = new List<string>();
        foreach (var (zone, settings) in options.Zones)
        {
            if (zone.Length == 0 || zone.StartsWith('.') || zone.Any(c => char.IsWhiteSpace(c) || c == '/'))
            {
                failures.Add($"Elemta:Dnsbl:Zones:{zone} is not a DNS zone name.");
            }

            foreach (var code in settings.ReturnCodes)
            {
                if (!System.Net.IPAddress.TryParse(code, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork || address.GetAddressBytes()[0] != 127)
                {
                    failures.Add($"Elemta:Dnsbl:Zones:{zone}:ReturnCodes entry '{code}' must be an address in 127.0.0.0/8 (RFC 5782).");
                }
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}

/// <summary>Checks <c>Elemta:Greylisting</c> at start.</summary>
internal sealed class GreylistingOptionsValidator : IValidateOptions<GreylistingOptions>
{
    public ValidateOptionsResult Validate(string? name, GreylistingOptions options)
    {
        var failures = new List<string>();
        if (options.Delay < TimeSpan.Zero || options.Delay > TimeSpan.FromHours(12))
        {
            failures.Add($"Elemta:Greylisting:Delay = {options.Delay} must be between 00:00:00 and 12:00:00.");
        }

        if (options.RetryWindow <= options.Delay)
        {
            failures.Add($"Elemta:Greylisting:RetryWindow = {options.RetryWindow} must be longer than Delay ({options.Delay}).");
        }

        if (options.PassedLifetime <= TimeSpan.Zero)
        {
            failures.Add($"Elemta:Greylisting:PassedLifetime = {options.PassedLifetime} must be positive.");
        }

        if (options.Ipv4Prefix is < 8 or > 32 || options.Ipv6Prefix is < 16 or > 128)
        {
            failures.Add("Elemta:Greylisting:Ipv4Prefix must be 8-32 and Ipv6Prefix 16-128.");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
