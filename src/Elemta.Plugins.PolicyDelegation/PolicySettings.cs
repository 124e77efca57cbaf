using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Elemta.Plugins.PolicyDelegation;

/// <summary>The SMTP stages at which the policy server can be asked, named as Postfix names them in <c>protocol_state</c>.</summary>
[Flags]
internal enum PolicyStates
{
    None = 0,

    /// <summary>MAIL FROM (Postfix: smtpd_sender_restrictions).</summary>
    Mail = 1,

    /// <summary>RCPT TO (Postfix: smtpd_recipient_restrictions), the usual place.</summary>
    Rcpt = 2,

    /// <summary>DATA, before the 354 (Postfix: smtpd_data_restrictions); not asked for BDAT.</summary>
    Data = 4,

    /// <summary>After the final dot (Postfix: smtpd_end_of_data_restrictions).</summary>
    EndOfMessage = 8,
}

/// <summary>
/// The plugin's settings, section <c>Elemta:Plugins:Items:PolicyDelegation:Settings</c>; read and checked once at
/// load, and a bad value stops the start with its key named.
/// </summary>
internal sealed class PolicySettings
{
    private PolicySettings(PolicyEndpoint endpoint)
    {
        Endpoint = endpoint;
    }

    /// <summary><c>Endpoint</c>: <c>inet:host:port</c> or <c>unix:/path</c>. Required.</summary>
    public PolicyEndpoint Endpoint { get; }

    /// <summary><c>Timeout</c>: for connecting, sending and reading one reply. Default 3 s, kept under the plugin's 5 s budget so <see cref="DefaultAction"/> can apply.</summary>
    public TimeSpan Timeout { get; private init; } = TimeSpan.FromSeconds(3);

    /// <summary><c>States</c>: where to ask. Default RCPT.</summary>
    public PolicyStates States { get; private init; } = PolicyStates.Rcpt;

    /// <summary>
    /// <c>DefaultAction</c>: what to do when the server cannot be asked or answers badly (Postfix's
    /// <c>smtpd_policy_service_default_action</c>). Unset: the plugin throws and the host's failure policy applies.
    /// </summary>
    public PolicyAction? DefaultAction { get; private init; }

    /// <summary><c>MaxIdle</c>: how long an unused connection stays open. Default 300 s (Postfix's <c>smtpd_policy_service_max_idle</c>).</summary>
    public TimeSpan MaxIdle { get; private init; } = TimeSpan.FromSeconds(300);

    /// <summary><c>PoolSize</c>: how many idle connections are kept. Default 8.</summary>
    public int PoolSize { get; private init; } = 8;

    /// <summary><c>PolicyContext</c>: sent as <c>policy_context</c> (Postfix 3.1), e.g. to tell this server's requests apart. Default empty.</summary>
    public string PolicyContext { get; private init; } = string.Empty;

    /// <summary>
    /// <c>ResolveClientName</c>: look the client's name up (PTR, then the name's addresses, through the system
    /// resolver) for <c>client_name</c> and <c>reverse_client_name</c>, as Postfix does. Default false: both are
    /// <c>unknown</c>, and a policy server's name-based whitelists do not match.
    /// </summary>
    public bool ResolveClientName { get; private init; }

    /// <summary>Reads and checks the settings.</summary>
    /// <exception cref="InvalidOperationException">A setting is missing or invalid; the message names its key.</exception>
    public static PolicySettings Read(IConfiguration settings)
    {
        var prefix = (settings as IConfigurationSection)?.Path ?? "Elemta:Plugins:Items:PolicyDelegation:Settings";
        string Key(string name) => $"{prefix}:{name}";

        // A misspelt key would otherwise be ignored silently and its default used.
        string[] known = ["Endpoint", "States", "Timeout", "DefaultAction", "PoolSize", "MaxIdle", "PolicyContext", "ResolveClientName"];
        foreach (var child in settings.GetChildren())
        {
            if (!known.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
            {
                throw new InvalidOperationException($"{Key(child.Key)} is not a setting of the PolicyDelegation plugin (it has {string.Join(", ", known)}).");
            }
        }

        var endpointText = settings["Endpoint"]?.Trim();
        if (string.IsNullOrEmpty(endpointText))
        {
            throw new InvalidOperationException($"{Key("Endpoint")} is required: the policy server, inet:host:port or unix:/path (e.g. inet:127.0.0.1:10023).");
        }

        var endpoint = PolicyEndpoint.TryParse(endpointText, out var problem)
            ?? throw new InvalidOperationException($"{Key("Endpoint")} '{endpointText}' is not a policy server endpoint: {problem}.");

        var defaultAction = settings["DefaultAction"] is { Length: > 0 } actionText ? ParseAction(actionText, Key("DefaultAction")) : null;
        return new PolicySettings(endpoint)
        {
            Timeout = ReadTime(settings, "Timeout", Key("Timeout"), TimeSpan.FromSeconds(3)),
            MaxIdle = ReadTime(settings, "MaxIdle", Key("MaxIdle"), TimeSpan.FromSeconds(300)),
            States = ReadStates(settings, Key("States")),
            DefaultAction = defaultAction,
            PoolSize = ReadPoolSize(settings, Key("PoolSize")),
            PolicyContext = settings["PolicyContext"]?.Trim() ?? string.Empty,
            ResolveClientName = ReadFlag(settings, "ResolveClientName", Key("ResolveClientName")),
        };
    }

    private static PolicyAction ParseAction(string text, string key)
    {
        try
        {
            var action = PolicyAction.Parse(text);
            return action.Kind is PolicyActionKind.Unsupported
                ? throw new InvalidOperationException($"{key} '{text}' is not an action Elemta carries out (use DUNNO, OK, REJECT, DEFER, or 4NN/5NN text).")
                : action;
        }
        catch (FormatException ex)
        {
            throw new InvalidOperationException($"{key} '{text}' is not an access(5) action: {ex.Message}.", ex);
        }
    }

    private static TimeSpan ReadTime(IConfiguration settings, string name, string key, TimeSpan fallback)
    {
        var text = settings[name];
        if (string.IsNullOrWhiteSpace(text))
        {
            return fallback;
        }

        if (!TimeSpan.TryParse(text, CultureInfo.InvariantCulture, out var value) || value <= TimeSpan.Zero || value > TimeSpan.FromHours(1))
        {
            throw new InvalidOperationException($"{key} '{text}' is not a time span between 0 and 1 hour (e.g. 00:00:03).");
        }

        return value;
    }

    private static bool ReadFlag(IConfiguration settings, string name, string key)
    {
        var text = settings[name];
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        return bool.TryParse(text, out var value) ? value : throw new InvalidOperationException($"{key} '{text}' is not true or false.");
    }

    private static int ReadPoolSize(IConfiguration settings, string key)
    {
        var text = settings["PoolSize"];
        if (string.IsNullOrWhiteSpace(text))
        {
            return 8;
        }

        return int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) && value is >= 1 and <= 1000
            ? value
            : throw new InvalidOperationException($"{key} '{text}' is not a number of connections between 1 and 1000.");
    }

    private static PolicyStates ReadStates(IConfiguration settings, string key)
    {
        // Either one value ("RCPT, END-OF-MESSAGE") or a list (States:0=RCPT, States:1=DATA).
        var section = settings.GetSection("States");
        var names = section.Value is { } single
            ? single.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            : [.. section.GetChildren().Select(c => c.Value?.Trim() ?? string.Empty)];
        if (names.Length == 0)
        {
            return PolicyStates.Rcpt;
        }

        var states = PolicyStates.None;
        foreach (var name in names)
        {
            states |= name.ToUpperInvariant() switch
            {
                "MAIL" => PolicyStates.Mail,
                "RCPT" => PolicyStates.Rcpt,
                "DATA" => PolicyStates.Data,
                "END-OF-MESSAGE" => PolicyStates.EndOfMessage,
                _ => throw new InvalidOperationException($"{key} names '{name}', not a protocol state Elemta asks at (MAIL, RCPT, DATA, END-OF-MESSAGE)."),
            };
        }

        return states;
    }
}
