using System.Globalization;
using Elemta.Delivery.Tls;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery;

/// <summary>
/// A smarthost (<c>Elemta:Delivery:Relays:&lt;name&gt;</c>): mail routed to it goes to one host, with SMTP AUTH when
/// credentials are given, like Postfix's <c>relayhost</c> with <c>smtp_sasl_password_maps</c>.
/// </summary>
public sealed class RelayOptions
{
    /// <summary>The relay's host name or IP address.</summary>
    public string Host { get; set; } = string.Empty;

    /// <summary>The relay's port (25, or 587 for submission with STARTTLS). Implicit TLS (465) is not supported.</summary>
    public int Port { get; set; } = 25;

    /// <summary>The SMTP AUTH user name (RFC 4954); empty: no AUTH.</summary>
    public string? Username { get; set; }

    /// <summary>The password, inline. Prefer <see cref="PasswordFile"/>, which keeps it out of configuration files.</summary>
    public string? Password { get; set; }

    /// <summary>A file holding the password (one line; a trailing line break is ignored), read at start.</summary>
    public string? PasswordFile { get; set; }

    /// <summary>
    /// TLS with the relay; <see cref="Tls.TlsPolicy.Verify"/> by default, since credentials sent to an impostor are lost.
    /// REQUIRETLS messages still need <see cref="Tls.TlsPolicy.Verify"/>.
    /// </summary>
    public TlsPolicy TlsPolicy { get; set; } = TlsPolicy.Verify;

    /// <summary>
    /// Whether credentials may be sent without TLS. Only with <see cref="TlsPolicy"/> <see cref="Tls.TlsPolicy.None"/>
    /// (a relay on a trusted network); otherwise AUTH happens only inside TLS.
    /// </summary>
    public bool AllowPlaintextAuth { get; set; }
}

/// <summary>
/// One routing rule (<c>Elemta:Delivery:Rules:&lt;n&gt;</c>): mail whose sender, recipient domain and time of day
/// match goes to <see cref="Relay"/> or <see cref="Route"/>. Rules are tried in order; the first match wins.
/// </summary>
public sealed class RoutingRule
{
    /// <summary>The envelope sender: an address, <c>@domain</c>, <c>&lt;&gt;</c> (the null sender) or <c>*</c> (the default).</summary>
    public string Sender { get; set; } = "*";

    /// <summary>The recipient domain: a domain, <c>.suffix</c> (its subdomains, not itself) or <c>*</c> (the default).</summary>
    public string RecipientDomain { get; set; } = "*";

    /// <summary>
    /// When the rule applies, <c>HH:mm-HH:mm</c> in <see cref="DeliveryOptions.RulesTimeZone"/>, start included, end not;
    /// it may wrap past midnight (<c>22:00-06:00</c>). Empty: at any time.
    /// </summary>
    public string? Hours { get; set; }

    /// <summary>The name of a relay in <see cref="DeliveryOptions.Relays"/>.</summary>
    public string? Relay { get; set; }

    /// <summary>A <c>host:port</c> to send to (no AUTH, the recipient domain's TLS policy).</summary>
    public string? Route { get; set; }
}

/// <summary>Where a routing decision sends the mail: a relay by name, or a plain host and port.</summary>
/// <param name="Host">The host to connect to.</param>
/// <param name="Port">Its port.</param>
/// <param name="Relay">The relay's name, or null for a plain route.</param>
public sealed record RouteTarget(string Host, int Port, string? Relay = null);

/// <summary>
/// The routing configuration checked and compiled: relays (with their passwords read), per-domain routes, the
/// default relay and the ordered rules. Precedence: rules, then <c>Routes</c>, then <c>DefaultRelay</c>, then MX.
/// </summary>
public sealed class DeliveryRouting
{
    private readonly Dictionary<string, (RouteTarget Target, string Key)> _routes = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<CompiledRule> _rules = [];
    private readonly RouteTarget? _defaultRelay;
    private readonly TimeZoneInfo _timeZone;

    /// <summary>Compiles the configuration; throws <see cref="OptionsValidationException"/> naming the first bad key.</summary>
    public DeliveryRouting(DeliveryOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var error = Validate(options, out var relays, out var timeZone);
        if (error is not null)
        {
            throw new OptionsValidationException(DeliveryOptions.SectionName, typeof(DeliveryOptions), [error]);
        }

        Relays = relays;
        _timeZone = timeZone;
        foreach (var (domain, value) in options.Routes)
        {
            _routes[domain.TrimEnd('.')] = (ParseTarget(value, relays), $"Elemta:Delivery:Routes:{domain}");
        }

        if (!string.IsNullOrWhiteSpace(options.DefaultRelay))
        {
            _defaultRelay = RelayTarget(options.DefaultRelay, relays);
        }

        foreach (var rule in options.Rules)
        {
            var target = rule.Relay is { Length: > 0 } relay ? RelayTarget(relay, relays) : ParseTarget(rule.Route!, relays);
            _ = TryParseHours(rule.Hours, out var hours);
            _rules.Add(new CompiledRule(rule.Sender.Trim(), rule.RecipientDomain.Trim().TrimEnd('.'), hours, target));
        }
    }

    /// <summary>The relays by name, with passwords read from their files.</summary>
    public IReadOnlyDictionary<string, Relay> Relays { get; }

    /// <summary>A relay with the password it will use.</summary>
    /// <param name="Name">Its name in <c>Elemta:Delivery:Relays</c>.</param>
    /// <param name="Options">Its settings.</param>
    /// <param name="Password">The password (from <see cref="RelayOptions.Password"/> or the file), null without AUTH.</param>
    public sealed record Relay(string Name, RelayOptions Options, string? Password);

    /// <summary>The configured route for <paramref name="domain"/> (<c>Routes</c>, else <c>DefaultRelay</c>), without rules.</summary>
    public RouteTarget? RouteFor(string domain) =>
        _routes.TryGetValue(domain.TrimEnd('.'), out var route) ? route.Target : _defaultRelay;

    /// <summary>
    /// Where mail from <paramref name="sender"/> to <paramref name="domain"/> goes at <paramref name="now"/>: the first
    /// matching rule, else <see cref="RouteFor"/>; null means the domain's MX.
    /// </summary>
    public RouteTarget? Select(string sender, string domain, DateTimeOffset now)
    {
        if (_rules.Count > 0)
        {
            var local = TimeZoneInfo.ConvertTime(now, _timeZone).TimeOfDay;
            domain = domain.TrimEnd('.');
            foreach (var rule in _rules)
            {
                if (SenderMatches(rule.Sender, sender) && DomainMatches(rule.Domain, domain) && (rule.Hours is not { } hours || hours.Contains(local)))
                {
                    return rule.Target;
                }
            }
        }

        return RouteFor(domain);
    }

    /// <summary>
    /// The target of a next hop a plugin named when it rerouted a recipient (<c>HookDecision.Reroute</c>): a configured
    /// relay by name, else <c>host:port</c> (port 25 when left out) — the same forms a route takes. Null, with the
    /// reason, when it is neither.
    /// </summary>
    public RouteTarget? NextHop(string hop, out string? error)
    {
        ArgumentNullException.ThrowIfNull(hop);
        return TryParseTarget(hop, Relays, out var target, out error) ? target : null;
    }

    /// <summary>Checks every routing option; the first problem as a one-line message naming its key, or null.</summary>
    public static string? Validate(DeliveryOptions options) => Validate(options, out _, out _);

    private static string? Validate(DeliveryOptions options, out Dictionary<string, Relay> relays, out TimeZoneInfo timeZone)
    {
        relays = new Dictionary<string, Relay>(StringComparer.OrdinalIgnoreCase);
        timeZone = TimeZoneInfo.Utc;
        foreach (var (name, relay) in options.Relays)
        {
            var key = $"Elemta:Delivery:Relays:{name}";
            if (relay is null || !IsHost(relay.Host))
            {
                return $"{key}:Host must be a host name or IP address (the port goes in {key}:Port).";
            }

            if (relay.Port is < 1 or > 65535)
            {
                return $"{key}:Port must be between 1 and 65535.";
            }

            if (!Enum.IsDefined(relay.TlsPolicy))
            {
                return $"{key}:TlsPolicy must be None, Opportunistic, Required or Verify.";
            }

            var hasPassword = !string.IsNullOrEmpty(relay.Password);
            var hasFile = !string.IsNullOrWhiteSpace(relay.PasswordFile);
            if (hasPassword && hasFile)
            {
                return $"{key}: set Password or PasswordFile, not both.";
            }

            string? password = relay.Password;
            if (hasFile)
            {
                try
                {
                    password = File.ReadAllText(relay.PasswordFile!).TrimEnd('\r', '\n');
                }
                catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
                {
                    return $"{key}:PasswordFile: cannot read '{relay.PasswordFile}': {ex.Message}";
                }
            }

            var hasUser = !string.IsNullOrEmpty(relay.Username);
            if (hasUser != (hasPassword || hasFile))
            {
                return $"{key}: Username and a Password (or PasswordFile) go together.";
            }

            if (hasUser && relay.TlsPolicy == TlsPolicy.None && !relay.AllowPlaintextAuth)
            {
                return $"{key}: TlsPolicy None would send the credentials in clear; set {key}:AllowPlaintextAuth=true if that is intended.";
            }

            if (relay.AllowPlaintextAuth && relay.TlsPolicy != TlsPolicy.None)
            {
                return $"{key}:AllowPlaintextAuth applies only with TlsPolicy None (otherwise credentials are sent only inside TLS).";
            }

            relays[name] = new Relay(name, relay, hasUser ? password : null);
        }

        if (!string.IsNullOrWhiteSpace(options.DefaultRelay) && !relays.ContainsKey(options.DefaultRelay))
        {
            return $"Elemta:Delivery:DefaultRelay '{options.DefaultRelay}' names no relay in Elemta:Delivery:Relays.";
        }

        foreach (var (domain, value) in options.Routes)
        {
            if (!relays.ContainsKey(value?.Trim() ?? string.Empty) && !Endpoints.TryParseHostPort(value ?? string.Empty, 25, out _, out _, out var error))
            {
                return $"Elemta:Delivery:Routes:{domain} = '{value}' is neither a relay name nor host:port: it {error}.";
            }
        }

        if (!string.IsNullOrWhiteSpace(options.RulesTimeZone))
        {
            if (!TimeZoneInfo.TryFindSystemTimeZoneById(options.RulesTimeZone, out var zone))
            {
                return $"Elemta:Delivery:RulesTimeZone '{options.RulesTimeZone}' is not a known time zone (an IANA id such as Europe/Paris, or UTC).";
            }

            timeZone = zone;
        }

        for (var i = 0; i < options.Rules.Count; i++)
        {
            var rule = options.Rules[i];
            var key = $"Elemta:Delivery:Rules:{i}";
            if (rule is null)
            {
                return $"{key} is empty.";
            }

            var hasRelay = !string.IsNullOrWhiteSpace(rule.Relay);
            if (hasRelay == !string.IsNullOrWhiteSpace(rule.Route))
            {
                return $"{key}: set exactly one of Relay and Route.";
            }

            if (hasRelay && !relays.ContainsKey(rule.Relay!))
            {
                return $"{key}:Relay '{rule.Relay}' names no relay in Elemta:Delivery:Relays.";
            }

            if (!hasRelay && !Endpoints.TryParseHostPort(rule.Route!, 25, out _, out _, out var routeError))
            {
                return $"{key}:Route '{rule.Route}' {routeError}.";
            }

            var sender = rule.Sender?.Trim() ?? string.Empty;
            if (sender.Length == 0 || (sender is not ("*" or "<>") && (sender.IndexOf('@', StringComparison.Ordinal) < 0 || sender.EndsWith('@'))))
            {
                return $"{key}:Sender '{rule.Sender}' must be an address, @domain, <> or *.";
            }

            var domain = rule.RecipientDomain?.Trim() ?? string.Empty;
            if (domain.Length == 0 || domain == "." || domain.Contains('@', StringComparison.Ordinal) || domain.Contains('*', StringComparison.Ordinal) && domain != "*")
            {
                return $"{key}:RecipientDomain '{rule.RecipientDomain}' must be a domain, .suffix or *.";
            }

            if (!TryParseHours(rule.Hours, out _))
            {
                return $"{key}:Hours '{rule.Hours}' must be HH:mm-HH:mm (e.g. 22:00-06:00), start and end different.";
            }
        }

        return null;
    }

    private static bool IsHost(string? host)
    {
        var text = host?.Trim() ?? string.Empty;
        return System.Net.IPAddress.TryParse(text.Trim('[', ']'), out _) || Uri.CheckHostName(text) == UriHostNameType.Dns;
    }

    private static RouteTarget RelayTarget(string name, IReadOnlyDictionary<string, Relay> relays)
    {
        var relay = relays[name];
        return new RouteTarget(relay.Options.Host.Trim().Trim('[', ']'), relay.Options.Port, relay.Name);
    }

    /// <summary>A configured target (already validated): a relay by name, else <c>host:port</c>.</summary>
    private static RouteTarget ParseTarget(string value, IReadOnlyDictionary<string, Relay> relays)
    {
        _ = TryParseTarget(value, relays, out var target, out _);
        return target!;
    }

    /// <summary>A relay by name, else <c>host:port</c> (port 25 when left out); false, with the reason, when it is neither.</summary>
    private static bool TryParseTarget(string value, IReadOnlyDictionary<string, Relay> relays, out RouteTarget? target, out string? error)
    {
        if (relays.ContainsKey(value.Trim()))
        {
            target = RelayTarget(value.Trim(), relays);
            error = null;
            return true;
        }

        var parsed = Endpoints.TryParseHostPort(value, 25, out var host, out var port, out error);
        target = parsed ? new RouteTarget(host, port) : null;
        return parsed;
    }

    private static bool SenderMatches(string pattern, string sender) => pattern switch
    {
        "*" => true,
        "<>" => sender.Length == 0,
        _ when pattern.StartsWith('@') => sender.EndsWith(pattern, StringComparison.OrdinalIgnoreCase),
        _ => string.Equals(pattern, sender, StringComparison.OrdinalIgnoreCase),
    };

    private static bool DomainMatches(string pattern, string domain) => pattern switch
    {
        "*" => true,
        _ when pattern.StartsWith('.') => domain.EndsWith(pattern, StringComparison.OrdinalIgnoreCase),
        _ => string.Equals(pattern, domain, StringComparison.OrdinalIgnoreCase),
    };

    private static bool TryParseHours(string? text, out HourRange? hours)
    {
        hours = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }

        var parts = text.Split('-', StringSplitOptions.TrimEntries);
        if (parts.Length != 2 || !TryParseTime(parts[0], out var start) || !TryParseTime(parts[1], out var end) || start == end)
        {
            return false;
        }

        hours = new HourRange(start, end);
        return true;
    }

    private static bool TryParseTime(string text, out TimeSpan time)
    {
        time = default;
        if (text == "24:00")
        {
            time = TimeSpan.FromHours(24);
            return true;
        }

        return TimeSpan.TryParseExact(text, @"hh\:mm", CultureInfo.InvariantCulture, out time);
    }

    /// <summary>A daily window, start included and end excluded; a start after the end wraps past midnight.</summary>
    private sealed record HourRange(TimeSpan Start, TimeSpan End)
    {
        public bool Contains(TimeSpan time) => Start < End ? time >= Start && time < End : time >= Start || time < End;
    }

    private sealed record CompiledRule(string Sender, string Domain, HourRange? Hours, RouteTarget Target);
}

/// <summary>Validates the routing options at start (<see cref="DeliveryRouting.Validate(DeliveryOptions)"/>), one line naming the key.</summary>
internal sealed class DeliveryRoutingValidator : IValidateOptions<DeliveryOptions>
{
    public ValidateOptionsResult Validate(string? name, DeliveryOptions options) =>
        DeliveryRouting.Validate(options) is { } error ? ValidateOptionsResult.Fail(error) : ValidateOptionsResult.Success;
}
