using System.Globalization;
using System.Net;

namespace Elemta.Plugins.PolicyDelegation;

/// <summary>
/// Postfix SMTP access policy delegation (SMTPD_POLICY_README): at RCPT TO (and, when configured, at MAIL FROM, DATA
/// and after the message) the plugin sends the session's and transaction's attributes to a policy server —
/// postgrey, policyd-spf, policyd-weight, any server written for Postfix's <c>check_policy_service</c> — and carries
/// out the <c>action=</c> it answers, as access(5) defines the actions.
/// </summary>
/// <remarks>
/// <para>Actions: <c>OK</c>, <c>permit</c> and all-numerical results accept (the plugins after this one are not
/// asked for the event); <c>DUNNO</c> has no opinion; <c>REJECT [text]</c> answers 554 5.7.1, <c>DEFER</c> and
/// <c>DEFER_IF_PERMIT [text]</c> 450 4.7.1 (Elemta's own checks passed before the hooks run, so "if permit" holds),
/// and <c>4NN</c>/<c>5NN text</c> that reply; a text may start with an enhanced status code (<c>4.2.0</c>), which
/// replaces the default. Replies name the refused item as Postfix does (<c>&lt;bob@example.org&gt;: Recipient address
/// rejected: …</c>). <c>DEFER_IF_REJECT</c> defers only if a later restriction rejects; Elemta's restrictions have
/// all passed when the hooks run, so it has no effect (logged). <c>HOLD</c>, <c>DISCARD</c>, <c>PREPEND</c>,
/// <c>REDIRECT</c> and <c>BCC</c> concern the whole message: asked before it, they are remembered for the transaction
/// and carried out after the final dot (hold, drop, header added, recipients replaced, a recipient added).
/// <c>WARN</c>/<c>INFO</c> are logged; <c>FILTER</c>, other restriction names and unknown actions are logged and
/// have no opinion (fail open).</para>
/// <para>A server that cannot be reached, does not answer within <c>Timeout</c> or answers malformed: with
/// <c>DefaultAction</c> set, that action is carried out; without it the hook throws, the host logs the error (event
/// 16010, with the endpoint and cause) and applies the plugin's <c>FailurePolicy</c> (FailOpen: mail flows;
/// FailClosed: 451 4.3.0).</para>
/// </remarks>
public sealed class PolicyDelegationPlugin : IElemtaPlugin, IMailTransactionHooks, IMessageHooks, ISmtpCommandHooks, IAsyncDisposable
{
    private const string StateKey = "PolicyDelegation:State";

    private PolicySettings? _settings;
    private PolicyClient? _client;

    /// <inheritdoc />
    public string Name => "PolicyDelegation";

    /// <inheritdoc />
    public Version Version => new(1, 0, 0);

    /// <inheritdoc />
    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        _settings = PolicySettings.Read(context.Settings);
        _client = new PolicyClient(_settings, context.TimeProvider);
        return default;
    }

    /// <inheritdoc />
    public ValueTask<HookDecision> OnAuthAsync(SessionInfo session, AuthAttempt attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(attempt);
        if (attempt.Succeeded)
        {
            StateOf(session).SaslMethod = attempt.Mechanism; // sasl_method: the session shows only the user name
        }

        return HookDecision.ContinueTask;
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnMailFromAsync(SessionInfo session, MailTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(transaction);
        var state = StateOf(session);
        state.Begin(session.SessionId); // a new transaction: a new instance, nothing pending from the last one
        if (!Asks(PolicyStates.Mail))
        {
            return HookDecision.Continue;
        }

        var action = await AskAsync(session, state, "MAIL", transaction.Sender, null, 0, 0, null, cancellationToken).ConfigureAwait(false);
        return Decide(action, state, $"<{transaction.Sender}>: Sender address rejected");
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnRcptToAsync(SessionInfo session, MailTransaction transaction, string recipient, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(transaction);
        if (!Asks(PolicyStates.Rcpt))
        {
            return HookDecision.Continue;
        }

        var state = StateOf(session);
        // recipient_count is 0 at RCPT, as Postfix sends it: only DATA and END-OF-MESSAGE count the recipients.
        var action = await AskAsync(session, state, "RCPT", transaction.Sender, recipient, 0, 0, null, cancellationToken).ConfigureAwait(false);
        return Decide(action, state, $"<{recipient}>: Recipient address rejected");
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnDataAsync(SessionInfo session, MailTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(transaction);
        if (!Asks(PolicyStates.Data))
        {
            return HookDecision.Continue;
        }

        var state = StateOf(session);
        var recipients = transaction.Recipients;
        var action = await AskAsync(session, state, "DATA", transaction.Sender, recipients.Count == 1 ? recipients[0] : null, recipients.Count, 0, null, cancellationToken).ConfigureAwait(false);
        return Decide(action, state, "<DATA>: Data command rejected");
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnMessageAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(message);
        var state = StateOf(session);
        var decision = HookDecision.Continue;
        if (Asks(PolicyStates.EndOfMessage))
        {
            var recipients = message.Recipients;
            var action = await AskAsync(session, state, "END-OF-MESSAGE", message.Sender, recipients.Count == 1 ? recipients[0] : null, recipients.Count, message.Content.Length, message.MessageId, cancellationToken).ConfigureAwait(false);
            decision = Decide(action, state, "<END-OF-MESSAGE>: End-of-data rejected");
        }

        var pending = state.Current;
        state.Current = null; // the transaction ends here, whatever is decided
        if (decision.Verdict is HookVerdict.Reject or HookVerdict.Defer || pending is null)
        {
            return decision;
        }

        foreach (var (name, value) in pending.Headers)
        {
            message.AddHeader(name, value);
        }

        if (pending.Redirect is { } redirect)
        {
            message.Recipients.Clear();
            message.Recipients.Add(redirect);
        }

        foreach (var bcc in pending.Bcc)
        {
            if (!message.Recipients.Contains(bcc, StringComparer.OrdinalIgnoreCase))
            {
                message.Recipients.Add(bcc);
            }
        }

        if (pending.Discard)
        {
            return HookDecision.Drop;
        }

        return pending.HoldReason is { } reason ? HookDecision.Hold(reason) : decision;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_client is not null)
        {
            await _client.DisposeAsync().ConfigureAwait(false);
        }
    }

    private bool Asks(PolicyStates state) => (Settings.States & state) != 0;

    private PolicySettings Settings => _settings ?? throw new InvalidOperationException("The PolicyDelegation plugin was called before InitializeAsync.");

    private static SessionState StateOf(SessionInfo session)
    {
        if (session.Items.TryGetValue(StateKey, out var value) && value is SessionState state)
        {
            return state;
        }

        state = new SessionState();
        session.Items[StateKey] = state;
        return state;
    }

    private async Task<PolicyAction> AskAsync(SessionInfo session, SessionState state, string protocolState, string sender, string? recipient, int recipientCount, long size, string? queueId, CancellationToken cancellationToken)
    {
        var transaction = state.Current ?? state.Begin(session.SessionId); // loaded mid-transaction: start one here
        state.Names ??= Settings.ResolveClientName ? await ResolveNamesAsync(session.Client.Address, cancellationToken).ConfigureAwait(false) : ("unknown", "unknown");
        var attributes = PolicyRequest.Build(session, Settings, protocolState, transaction.Instance, state.SaslMethod, state.Names.Value, sender, recipient, recipientCount, size, queueId);
        string value;
        try
        {
            value = await _client!.AskAsync(attributes, cancellationToken).ConfigureAwait(false);
        }
        catch (PolicyServerException ex) when (Settings.DefaultAction is not null)
        {
            PolicyLog.Warning($"{ex.Message}; DefaultAction '{Settings.DefaultAction.Value}' applied");
            return Settings.DefaultAction;
        }

        try
        {
            return PolicyAction.Parse(value);
        }
        catch (FormatException ex)
        {
            var message = $"policy server {Settings.Endpoint} sent a malformed action '{value}': {ex.Message}";
            if (Settings.DefaultAction is null)
            {
                throw new PolicyServerException(message, ex);
            }

            PolicyLog.Warning($"{message}; DefaultAction '{Settings.DefaultAction.Value}' applied");
            return Settings.DefaultAction;
        }
    }

    /// <summary>
    /// The client's names as Postfix sends them: <c>reverse_client_name</c> is the PTR name, <c>client_name</c> the same
    /// name only when it resolves back to the address (forward-confirmed); <c>unknown</c> otherwise.
    /// </summary>
    private async Task<(string Client, string Reverse)> ResolveNamesAsync(IPAddress address, CancellationToken cancellationToken)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        try
        {
            // On Unix the entry's addresses are the forward lookup of the name the PTR gave. The lookup itself
            // cannot be cancelled; the wait for it ends at the Timeout.
            var entry = await Dns.GetHostEntryAsync(address).WaitAsync(Settings.Timeout, cancellationToken).ConfigureAwait(false);
            if (string.IsNullOrEmpty(entry.HostName) || IPAddress.TryParse(entry.HostName, out _))
            {
                return ("unknown", "unknown");
            }

            var name = entry.HostName.TrimEnd('.');
            return (entry.AddressList.Any(a => a.Equals(address)) ? name : "unknown", name);
        }
        catch (TimeoutException)
        {
            return ("unknown", "unknown"); // a slow resolver: Postfix also sends unknown when the lookup fails
        }
        catch (System.Net.Sockets.SocketException)
        {
            return ("unknown", "unknown");
        }
    }

    /// <summary>Turns an action into the hook's decision; actions on the whole message are remembered for it.</summary>
    private HookDecision Decide(PolicyAction action, SessionState state, string what)
    {
        var pending = state.Current!;
        switch (action.Kind)
        {
            case PolicyActionKind.Accept:
                return HookDecision.Accept;
            case PolicyActionKind.Continue:
                return HookDecision.Continue;
            case PolicyActionKind.Reject:
                return HookDecision.Reject($"{what}: {action.Text ?? "Access denied"}", action.Code, action.EnhancedCode!);
            case PolicyActionKind.Defer:
                return HookDecision.Defer($"{what}: {action.Text ?? "Try again later"}", action.Code, action.EnhancedCode!);
            case PolicyActionKind.DeferIfReject:
                PolicyLog.Info($"policy server {Settings.Endpoint} answered '{action.Value}': no later restriction rejects, so nothing is deferred");
                return HookDecision.Continue;
            case PolicyActionKind.Hold:
                pending.HoldReason = action.Text ?? $"held by policy server {Settings.Endpoint}";
                return HookDecision.Continue;
            case PolicyActionKind.Discard:
                pending.Discard = true;
                return HookDecision.Continue;
            case PolicyActionKind.Prepend:
                pending.Headers.Add((action.HeaderName!, action.Text!));
                return HookDecision.Continue;
            case PolicyActionKind.Redirect:
                pending.Redirect = action.Text;
                return HookDecision.Continue;
            case PolicyActionKind.Bcc:
                pending.Bcc.Add(action.Text!);
                return HookDecision.Continue;
            case PolicyActionKind.Log:
                PolicyLog.Warning($"policy server {Settings.Endpoint}: {action.Value} ({what})");
                return HookDecision.Continue;
            default:
                PolicyLog.Warning($"policy server {Settings.Endpoint} answered '{action.Value}', which Elemta does not carry out; going on as if it said DUNNO");
                return HookDecision.Continue;
        }
    }

    /// <summary>The plugin's state for one connection, in <see cref="SessionInfo.Items"/>.</summary>
    private sealed class SessionState
    {
        private int _transactions;

        public string? SaslMethod { get; set; }

        public (string Client, string Reverse)? Names { get; set; }

        public PendingTransaction? Current { get; set; }

        public PendingTransaction Begin(string sessionId)
        {
            _transactions++;
            Current = new PendingTransaction(string.Create(CultureInfo.InvariantCulture, $"{sessionId}.{_transactions}"));
            return Current;
        }
    }

    /// <summary>One mail transaction: its <c>instance</c> and the actions on the message asked for before it arrived.</summary>
    private sealed class PendingTransaction(string instance)
    {
        public string Instance { get; } = instance;

        public List<(string Name, string Value)> Headers { get; } = [];

        public List<string> Bcc { get; } = [];

        public string? Redirect { get; set; }

        public string? HoldReason { get; set; }

        public bool Discard { get; set; }
    }
}

/// <summary>Builds the attribute list of one request, in the order and with the values Postfix sends.</summary>
internal static class PolicyRequest
{
    public static List<KeyValuePair<string, string>> Build(SessionInfo session, PolicySettings settings, string protocolState, string instance, string? saslMethod, (string Client, string Reverse) names, string sender, string? recipient, int recipientCount, long size, string? queueId)
    {
        var client = session.Client.Address.IsIPv4MappedToIPv6 ? session.Client.Address.MapToIPv4() : session.Client.Address;
        var local = session.Local?.Address is { IsIPv4MappedToIPv6: true } mapped ? mapped.MapToIPv4() : session.Local?.Address;
        return
        [
            new("request", "smtpd_access_policy"),
            new("protocol_state", protocolState),
            new("protocol_name", session.IsExtended ? "ESMTP" : "SMTP"),
            new("helo_name", session.HeloName ?? string.Empty),
            new("queue_id", queueId ?? string.Empty),
            new("sender", sender),
            new("recipient", recipient ?? string.Empty),
            new("recipient_count", recipientCount.ToString(CultureInfo.InvariantCulture)),
            new("client_address", client.ToString()),
            // "unknown" unless ResolveClientName: what Postfix sends for a client without a (verified) name.
            new("client_name", names.Client),
            new("reverse_client_name", names.Reverse),
            new("instance", instance),
            new("sasl_method", session.AuthenticatedUser is null ? string.Empty : saslMethod ?? string.Empty),
            new("sasl_username", session.AuthenticatedUser ?? string.Empty),
            new("sasl_sender", string.Empty),
            new("size", size.ToString(CultureInfo.InvariantCulture)),
            new("ccert_subject", string.Empty),
            new("ccert_issuer", string.Empty),
            new("ccert_fingerprint", string.Empty),
            new("ccert_pubkey_fingerprint", string.Empty),
            new("encryption_protocol", TlsName(session.TlsProtocol)),
            new("encryption_cipher", string.Empty),
            new("encryption_keysize", "0"),
            // Always sent by Postfix 2.3 and later; postgrey reads its presence as "the client understands enhanced codes".
            new("etrn_domain", string.Empty),
            new("stress", string.Empty),
            new("client_port", session.Client.Port.ToString(CultureInfo.InvariantCulture)),
            new("policy_context", settings.PolicyContext),
            new("server_address", local?.ToString() ?? string.Empty),
            new("server_port", session.Local?.Port.ToString(CultureInfo.InvariantCulture) ?? string.Empty),
        ];
    }

    /// <summary>The TLS protocol as OpenSSL (and so Postfix) names it: <c>Tls13</c> becomes <c>TLSv1.3</c>.</summary>
    private static string TlsName(string? protocol) => protocol switch
    {
        null or "" or "None" => string.Empty,
        "Tls" => "TLSv1",
        "Tls11" => "TLSv1.1",
        "Tls12" => "TLSv1.2",
        "Tls13" => "TLSv1.3",
        _ => protocol,
    };
}

/// <summary>
/// The plugin's own log lines. The plugin API gives a plugin no logger today, so they go to standard error (the
/// journal, under systemd), one line each, prefixed so they can be told apart from the silo's log; failures that
/// decide the mail's fate are thrown instead, and the host logs those.
/// </summary>
internal static class PolicyLog
{
    public static void Warning(string message) => Console.Error.WriteLine($"elemta: plugin PolicyDelegation: warning: {message}");

    public static void Info(string message) => Console.Error.WriteLine($"elemta: plugin PolicyDelegation: {message}");
}
