using System.Collections.Immutable;
using System.Text;
using Elemta.Plugins;
using Elemta.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Elemta.Smtp.Server;

/// <summary>
/// Plugin hooks before the 250 (connection, SMTP command, mail transaction, message, content filter). Every call site
/// first reads the family's array from <see cref="PluginHost.Current"/> and goes on without any work, allocation or
/// await when it is empty; the methods here run only when a plugin of the family is loaded.
/// </summary>
internal sealed partial class SmtpSession
{
    /// <summary>The session as plugins see it, created on the first hook call.</summary>
    private SessionInfo? _pluginSession;

    /// <summary>
    /// The plugins the connect hooks were started on (null before): the same set hears of the disconnect, even if the
    /// plugins were reloaded meanwhile, so a plugin that took something at connect is the one asked to give it back.
    /// </summary>
    private PluginSet? _connectionSet;

    private PluginHost Plugins => _server.Plugins;

    // Whether the client is in the trusted networks, asked once per session (the list does not change meanwhile).
    private bool? _trustedClient;

    private bool TrustedClient => _trustedClient ??= _server.IsTrusted(_remote.Address);

    /// <summary>
    /// The plugins for this session as it stands: those whose scope includes outbound sessions once the client is
    /// trusted or authenticated, else those for inbound mail (IElemtaPlugin.Scope).
    /// </summary>
    private PluginSet Hooks => Plugins.Current.For(_user is not null || TrustedClient);

    /// <summary>The connection hooks' plugins: chosen by the client's address alone, so disconnect reaches the plugins connect did.</summary>
    private PluginSet ConnectionHooks => Plugins.Current.For(TrustedClient);

    /// <summary>The session as plugins see it, brought up to date with what the session learned since the last call.</summary>
    private SessionInfo PluginSession()
    {
        var info = _pluginSession ??= new SessionInfo(SessionId, _remote, null, _submission)
        {
            IsTrusted = TrustedClient,
            ServerName = _server.HostName,
        };
        info.HeloName = _helo;
        info.IsExtended = _extended;
        info.IsTls = IsSecure;
        info.TlsProtocol = _tls?.SslProtocol.ToString();
        info.AuthenticatedUser = _user?.Name;
        return info;
    }

    /// <summary>Connect hooks, before the greeting; false when a plugin refused the connection (its reply is written).</summary>
    private async ValueTask<bool> ConnectHooksAsync(LoadedPlugin[] plugins)
    {
        var decision = await Plugins.RunAsync<IConnectionHooks, SessionInfo>(plugins, "connect", PluginSession(),
            static (h, s, ct) => h.OnConnectAsync(s, ct), _sessionToken).ConfigureAwait(false);
        switch (decision.Verdict)
        {
            case HookVerdict.Continue or HookVerdict.Accept:
                return true;
            case HookVerdict.Defer:
                // RFC 5321 §3.8: a server that cannot serve now answers 421 and closes, at any point.
                Reply(421, decision.EnhancedCode, decision.Text ?? $"{_server.HostName} service not available, try again later");
                return false;
            default:
                // RFC 5321 §3.1: 554 instead of the greeting refuses the connection.
                Reply(decision.Verdict == HookVerdict.Reject ? decision.Code : 554, decision.EnhancedCode ?? "5.7.1", decision.Text ?? $"{_server.HostName} connection refused");
                return false;
        }
    }

    /// <summary>
    /// Disconnect hooks of every plugin of <paramref name="set"/> that implements them, each called whatever the
    /// others did (a throwing or slow one is logged, counted and does not keep the next from being told); never throws.
    /// </summary>
    private async Task DisconnectHooksAsync(PluginSet set)
    {
        var plugins = set.Disconnect;
        if (plugins.Length == 0)
        {
            return;
        }

        try
        {
            await Plugins.TellAsync<IConnectionHooks, SessionInfo>(plugins, "disconnect", PluginSession(),
                static (h, s, ct) => h.OnDisconnectAsync(s, ct)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogDisconnectHooksFailed(ex.Message);
        }
    }

    /// <summary>HELO/EHLO hooks, with the name the client gave; false when refused (the reply is written).</summary>
    private async ValueTask<bool> HeloHooksAsync(LoadedPlugin[] plugins, string name, bool extended)
    {
        var info = PluginSession();
        info.HeloName = name;
        info.IsExtended = extended;
        var decision = await Plugins.RunAsync<ISmtpCommandHooks, SessionInfo>(plugins, "helo", info,
            static (h, s, ct) => h.OnHeloAsync(s, ct), _sessionToken).ConfigureAwait(false);
        if (Refused(decision))
        {
            // A refused HELO leaves the client without one (and without a transaction, as any HELO would).
            ResetTransaction();
            _helo = null;
            _extended = false;
            return false;
        }

        return true;
    }

    /// <summary>
    /// AUTH request hooks before any credentials are checked (<paramref name="user"/> null when the command starts,
    /// then the name the client gave); false when a plugin refused, with its decision kept in <see cref="_authRefusal"/>
    /// for the reply. Every plugin hears of AUTH, whatever its scope.
    /// </summary>
    private async ValueTask<bool> AuthRequestHooksAsync(string mechanism, string? user)
    {
        if (Plugins.Current.AuthRequest is not { Length: > 0 } plugins)
        {
            return true;
        }

        var decision = await Plugins.RunAsync<ISmtpCommandHooks, (SessionInfo, AuthRequest)>(plugins, "auth-request", (PluginSession(), new AuthRequest(mechanism, user)),
            static (h, a, ct) => h.OnAuthRequestAsync(a.Item1, a.Item2, ct), _sessionToken).ConfigureAwait(false);
        if (decision.Verdict is HookVerdict.Continue or HookVerdict.Accept)
        {
            return true;
        }

        _authRefusal = decision;
        return false;
    }

    /// <summary>What the AUTH request hook that refused the current exchange decided.</summary>
    private HookDecision? _authRefusal;

    /// <summary>AUTH hooks after the credentials were checked; false when a plugin overrode the outcome (the reply is written, a success undone).</summary>
    private async ValueTask<bool> AuthHooksAsync(LoadedPlugin[] plugins, string mechanism, string? user, bool succeeded)
    {
        var decision = await Plugins.RunAsync<ISmtpCommandHooks, (SessionInfo, AuthAttempt)>(plugins, "auth", (PluginSession(), new AuthAttempt(mechanism, user, succeeded)),
            static (h, a, ct) => h.OnAuthAsync(a.Item1, a.Item2, ct), _sessionToken).ConfigureAwait(false);
        if (Refused(decision))
        {
            _user = null;
            return false;
        }

        return true;
    }

    /// <summary>STARTTLS hooks after the handshake; false when refused (421 written, the session ends).</summary>
    private async ValueTask<bool> StartTlsHooksAsync(LoadedPlugin[] plugins)
    {
        var decision = await Plugins.RunAsync<ISmtpCommandHooks, SessionInfo>(plugins, "starttls", PluginSession(),
            static (h, s, ct) => h.OnStartTlsAsync(s, ct), _sessionToken).ConfigureAwait(false);
        if (decision.Verdict is HookVerdict.Continue or HookVerdict.Accept)
        {
            return true;
        }

        // 421 whatever the verdict (RFC 3207 has no other reply here), so the enhanced code must be of class 4 too.
        Reply(421, decision.Verdict == HookVerdict.Defer ? decision.EnhancedCode : "4.7.0", decision.Text ?? $"{_server.HostName} closing connection");
        _quit = true;
        return false;
    }

    /// <summary>MAIL FROM hooks; false when refused (the reply is written, the transaction not started).</summary>
    private async ValueTask<bool> MailHooksAsync(LoadedPlugin[] plugins, SmtpPath sender)
    {
        var decision = await Plugins.RunAsync<IMailTransactionHooks, (SessionInfo, MailTransaction)>(plugins, "mail", (PluginSession(), new MailTransaction(sender.Mailbox, [])),
            static (h, a, ct) => h.OnMailFromAsync(a.Item1, a.Item2, ct), _sessionToken).ConfigureAwait(false);
        if (Refused(decision))
        {
            ResetTransaction();
            return false;
        }

        return true;
    }

    /// <summary>Security checks, then RCPT TO hooks; false when this recipient is refused (the reply is written).</summary>
    private async ValueTask<bool> RcptHooksAsync(PluginSet plugins, string recipient)
    {
        var argument = (PluginSession(), Transaction(), recipient);
        if (plugins.Security.Length != 0)
        {
            var check = await Plugins.RunAsync<ISecurityHooks, (SessionInfo, MailTransaction, string)>(plugins.Security, "security", argument,
                static (h, a, ct) => h.OnSecurityCheckAsync(a.Item1, a.Item2, a.Item3, ct), _sessionToken).ConfigureAwait(false);
            if (Refused(check))
            {
                return false;
            }
        }

        if (plugins.MailTransaction.Length == 0)
        {
            return true;
        }

        var decision = await Plugins.RunAsync<IMailTransactionHooks, (SessionInfo, MailTransaction, string)>(plugins.MailTransaction, "rcpt", argument,
            static (h, a, ct) => h.OnRcptToAsync(a.Item1, a.Item2, a.Item3, ct), _sessionToken).ConfigureAwait(false);
        return !Refused(decision);
    }

    /// <summary>DATA hooks before the 354; false when refused (the reply is written; the transaction stays, as after any refused DATA).</summary>
    private async ValueTask<bool> DataHooksAsync(LoadedPlugin[] plugins)
    {
        var decision = await Plugins.RunAsync<IMailTransactionHooks, (SessionInfo, MailTransaction)>(plugins, "data", (PluginSession(), Transaction()),
            static (h, a, ct) => h.OnDataAsync(a.Item1, a.Item2, ct), _sessionToken).ConfigureAwait(false);
        return !Refused(decision);
    }

    private MailTransaction Transaction() => new(_mailFrom?.Mailbox ?? string.Empty, [.. _recipients]);

    /// <summary>
    /// Message and content-filter hooks on the complete message, then their header and recipient changes applied to
    /// the content. Returns the recipients to queue for, or default when the message must not be queued (the reply
    /// is written: a refusal, a deferral, or the 250 of a dropped message).
    /// </summary>
    private async ValueTask<(ImmutableArray<string> Recipients, string? HoldReason)> MessageHooksAsync(PluginSet hooks, IncomingMessage message, string sender, ImmutableArray<string> recipients)
    {
        var content = message.Content;
        var headerEnd = HeaderSection.Parse(content.WrittenSpan[message.ClientStart..]).End + message.ClientStart;
        var fields = HeaderFields(content.WrittenSpan[..headerEnd]);
        var rewritable = new List<string>(recipients);
        var context = new MessageContext(message.Id, sender, [.. fields.Select(f => f.Header)], content.WrittenMemory, rewritable);
        var info = PluginSession();
        var decision = hooks.Message.Length == 0 ? HookDecision.Continue : await Plugins.RunAsync<IMessageHooks, (SessionInfo, MessageContext)>(hooks.Message, "message", (info, context),
            static (h, a, ct) => h.OnMessageAsync(a.Item1, a.Item2, ct), _sessionToken).ConfigureAwait(false);
        if (decision.Verdict is HookVerdict.Continue or HookVerdict.Accept && hooks.Authentication.Length != 0)
        {
            // The results the message hooks (Elemta's own mail authentication among them) recorded, for plugins that
            // decide on them.
            decision = await Plugins.RunAsync<IAuthenticationHooks, (SessionInfo, MessageContext)>(hooks.Authentication, "authentication", (info, context),
                static (h, a, ct) => h.OnAuthenticationResultsAsync(a.Item1, a.Item2, [.. a.Item2.AuthenticationResults], ct), _sessionToken).ConfigureAwait(false);
        }

        if (decision.Verdict is HookVerdict.Continue or HookVerdict.Accept && hooks.ContentFilter.Length != 0)
        {
            decision = await Plugins.RunAsync<IContentFilterHooks, (SessionInfo, MessageContext)>(hooks.ContentFilter, "filter", (info, context),
                static (h, a, ct) => h.OnFilterAsync(a.Item1, a.Item2, ct), _sessionToken).ConfigureAwait(false);
        }

        string? holdReason = null;
        switch (decision.Verdict)
        {
            case HookVerdict.Drop:
                // Answered as if queued (as Postfix's DISCARD does), so the sender does not retry or learn of the filter.
                LogDropped(message.Id, _remote);
                Reply(250, "2.0.0", $"Ok: queued as {message.Id}");
                return default;
            case HookVerdict.Hold:
                // Quarantine: accepted and queued in the Held state in the same commit, so no delivery can start before
                // an operator releases it (as Postfix's HOLD action puts it in the hold queue).
                holdReason = string.IsNullOrWhiteSpace(decision.Text) ? "held by a plugin" : decision.Text;
                break;
            case HookVerdict.Reject or HookVerdict.Defer:
                Reply(decision.Code, decision.EnhancedCode, decision.Text ?? "Message refused by policy");
                return default;
        }

        var rewritten = rewritable.Where(r => !string.IsNullOrWhiteSpace(r)).Distinct(StringComparer.OrdinalIgnoreCase).ToImmutableArray();
        if (rewritten.IsEmpty)
        {
            Reply(554, "5.5.1", "No valid recipients");
            return default;
        }

        ApplyHeaderChanges(content, fields, context);
        return (rewritten, holdReason);
    }

    /// <summary>Removes the fields asked to be removed and inserts the added ones at the top of the message.</summary>
    private static void ApplyHeaderChanges(MessageBuffer content, List<(MessageHeader Header, int Start, int End)> fields, MessageContext context)
    {
        // From the last field to the first, so the offsets of the fields still to remove stay valid.
        for (var i = fields.Count - 1; i >= 0; i--)
        {
            if (context.IsRemoved(fields[i].Header))
            {
                content.Remove(fields[i].Start, fields[i].End - fields[i].Start);
            }
        }

        if (context.AddedHeaders.Count > 0)
        {
            var added = new StringBuilder();
            foreach (var header in context.AddedHeaders)
            {
                added.Append(header.Name).Append(": ").Append(header.Value).Append("\r\n");
            }

            content.Insert(0, Encoding.UTF8.GetBytes(added.ToString()));
        }
    }

    /// <summary>The header fields of a header section (RFC 5322 §2.2): name, unfolded value, and the octets each spans with its continuation lines.</summary>
    private static List<(MessageHeader Header, int Start, int End)> HeaderFields(ReadOnlySpan<byte> section)
    {
        var fields = new List<(MessageHeader, int, int)>();
        var position = 0;
        while (position < section.Length)
        {
            var start = position;
            do
            {
                var lf = section[position..].IndexOf((byte)'\n');
                position = lf < 0 ? section.Length : position + lf + 1;
            }
            while (position < section.Length && section[position] is (byte)' ' or (byte)'\t');

            var text = Encoding.UTF8.GetString(section[start..position]);
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                continue;
            }

            var value = text[(colon + 1)..].Replace("\r\n", string.Empty, StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal).Trim();
            fields.Add((new MessageHeader(text[..colon].TrimEnd(), value), start, position));
        }

        return fields;
    }

    /// <summary>Writes the reply for a decision that refuses; false for continue and accept.</summary>
    private bool Refused(HookDecision decision)
    {
        switch (decision.Verdict)
        {
            case HookVerdict.Continue or HookVerdict.Accept:
                return false;
            case HookVerdict.Reject or HookVerdict.Defer:
                Error(decision.Code, decision.EnhancedCode ?? (decision.Code >= 500 ? "5.7.1" : "4.7.1"), decision.Text ?? "Refused by policy");
                return true;
            default:
                // Drop and hold name what to do with a message; before there is one, they refuse.
                Error(550, "5.7.1", decision.Text ?? "Refused by policy");
                return true;
        }
    }

    [LoggerMessage(EventId = 16100, Level = LogLevel.Information, Message = "{MessageId} from {Client} dropped by a plugin: answered 250, not queued")]
    private partial void LogDropped(string messageId, System.Net.IPEndPoint client);

    [LoggerMessage(EventId = 16101, Level = LogLevel.Warning, Message = "{MessageId} queued held by a plugin ({Reason}): no delivery until an operator releases it")]
    private partial void LogHeld(string messageId, string reason);

    [LoggerMessage(EventId = 16102, Level = LogLevel.Warning, Message = "Disconnect hooks failed: {Reason}")]
    private partial void LogDisconnectHooksFailed(string reason);
}
