using System.Net;
using System.Text;
using Elemta.Auth;
using Elemta.Contracts;
using Elemta.Plugins;
using Elemta.Smtp.Protocol;
using Elemta.Smtp.Sasl;
using Microsoft.Extensions.Logging;

namespace Elemta.Smtp.Server;

/// <summary>
/// SMTP AUTH (RFC 4954) with SCRAM-SHA-256 (RFC 5802, RFC 7677), CRAM-MD5 (RFC 2195), PLAIN (RFC 4616) and LOGIN;
/// the relay decision (no open relay) and, for authenticated clients, the senders their account allows; and the
/// submission port's rule that MAIL needs AUTH first (RFC 6409 §4.3). Neither passwords nor SASL payloads are logged.
/// </summary>
internal sealed partial class SmtpSession
{
    /// <summary>RFC 4954 §4: a SASL response line may be up to 12288 octets.</summary>
    private const int MaxSaslLine = 12288;

    private readonly bool _submission;

    /// <summary>The authenticated account; null until AUTH succeeds, and again after STARTTLS.</summary>
    private UserAccount? _user;

    /// <summary>Whether the next line read is a SASL response rather than a command (longer lines allowed).</summary>
    private bool _readingSasl;

    private enum AuthOutcome
    {
        Success,
        Failed,
        Cancelled,
        Malformed,
        LockedOut,
        Unavailable,
        ConnectionClosed,
    }

    /// <summary>The mechanisms this connection may use now: those that send the password itself only under TLS.</summary>
    private IEnumerable<string> MechanismsOffered =>
        Options.EffectiveAuthMechanisms.Where(m => IsSecure || Options.AllowPlaintextAuth || !SendsPassword(m));

    private bool AuthOffered => MechanismsOffered.Any();

    private static bool SendsPassword(string mechanism) => mechanism is "PLAIN" or "LOGIN";

    private string[] AuthExtension() => AuthOffered ? [$"AUTH {string.Join(' ', MechanismsOffered)}"] : [];

    /// <summary>RFC 3848: the Received header's protocol says whether the client authenticated and used TLS.</summary>
    private string ReceivedProtocol =>
        _user is not null ? (IsSecure ? "ESMTPSA" : "ESMTPA") : IsSecure ? "ESMTPS" : _extended ? "ESMTP" : "SMTP";

    /// <summary>The submission port refuses transactions before AUTH unless <see cref="SmtpServerOptions.AuthRequired"/> is off.</summary>
    private bool MayStartTransaction()
    {
        if (_submission && Options.AuthRequired && _user is null)
        {
            Error(530, "5.7.0", "Authentication required");
            return false;
        }

        return true;
    }

    /// <summary>An authenticated client may use only the senders its account allows.</summary>
    private bool MaySendAs(string sender)
    {
        if (_user is null || !Options.RestrictSenders || SenderRules.Permits(_user, sender))
        {
            return true;
        }

        LogSenderRefused(_user.Name, sender, _remote);
        Error(553, "5.7.1", $"<{sender}>: Sender address rejected: not owned by user {_user.Name}");
        return false;
    }

    /// <summary>
    /// No open relay: authenticated and trusted clients may send anywhere; others only to relay domains. A local part
    /// that routes elsewhere (<c>user%other@local</c>, <c>other!user@local</c>, <c>"user@other"@local</c>) counts as
    /// mail for that other domain, since a downstream host may honour it. A source route (<c>@a,@b:user@c</c>) is
    /// dropped by the parser (RFC 5321 §4.1.2), so only the final mailbox matters.
    /// </summary>
    private bool MayRelayTo(SmtpPath path)
    {
        if (_user is not null || TrustedClient)
        {
            return true;
        }

        if (!_server.IsRelayDomain(path.Domain))
        {
            return false;
        }

        return HiddenDomains(path.Mailbox).All(_server.IsRelayDomain);
    }

    /// <summary>
    /// The domains a local part routes through by the percent hack, a bang path or a quoted <c>@</c>, each applied as
    /// often as a downstream host might (<c>a%b%c@local</c> reaches <c>b</c> after <c>c</c>).
    /// </summary>
    private static IEnumerable<string> HiddenDomains(string mailbox)
    {
        var local = mailbox[..mailbox.LastIndexOf('@')];
        if (local.StartsWith('"'))
        {
            var unquoted = new StringBuilder(local.Length);
            for (var i = 1; i < local.Length - 1; i++)
            {
                if (local[i] == '\\' && i + 1 < local.Length - 1)
                {
                    i++;
                }

                unquoted.Append(local[i]);
            }

            local = unquoted.ToString();
        }

        var bangs = local.Split('!');
        foreach (var hop in bangs[..^1])
        {
            yield return hop.ToLowerInvariant();
        }

        foreach (var domain in bangs[^1].Split('@', '%').Skip(1))
        {
            yield return domain.ToLowerInvariant();
        }
    }

    /// <summary>AUTH mechanism [initial-response] (RFC 4954 §4).</summary>
    private async Task AuthCommandAsync(string argument)
    {
        if (!_extended)
        {
            Error(503, "5.5.1", "Send EHLO first");
            return;
        }

        if (_user is not null)
        {
            Error(503, "5.5.1", "Already authenticated");
            return;
        }

        if (_mailFrom is not null)
        {
            Error(503, "5.5.1", "AUTH not permitted during a mail transaction");
            return;
        }

        var parts = argument.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length is 0 or > 2)
        {
            Error(501, "5.5.4", "Syntax: AUTH mechanism [initial-response]");
            return;
        }

        var mechanism = parts[0].ToUpperInvariant();
        if (!Options.EffectiveAuthMechanisms.Contains(mechanism))
        {
            Error(504, "5.5.4", "Unrecognized authentication type");
            return;
        }

        if (!MechanismsOffered.Contains(mechanism))
        {
            Error(538, "5.7.11", "Encryption required for requested authentication mechanism");
            return;
        }

        byte[]? initial = null;
        if (parts.Length == 2)
        {
            // RFC 4954 §4: "=" is an empty initial response.
            if (parts[1] == "=")
            {
                initial = [];
            }
            else if ((initial = DecodeBase64(parts[1])) is null)
            {
                Error(501, "5.5.2", "Cannot decode the initial response");
                return;
            }
        }

        (AuthOutcome Outcome, string? User) result;
        _authRefusal = null;
        _authMechanism = mechanism;
        try
        {
            // The address first (the auth-lockout plugin): a client already locked out learns nothing more, whatever
            // it sends. The name is asked about by the mechanism, once the client gave it, before its password is checked.
            result = !await AuthRequestHooksAsync(mechanism, null).ConfigureAwait(false) ? (AuthOutcome.LockedOut, null) : await RunMechanismAsync(mechanism, initial).ConfigureAwait(false);
            if (result.Outcome == AuthOutcome.LockedOut && _authRefusal == Admission.AuthLockoutPlugin.Unavailable)
            {
                // Not a lockout: the counts could not be read (the plugin logged why).
                result = (AuthOutcome.Unavailable, result.User);
            }
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or IOException or System.Net.Sockets.SocketException))
        {
            // The accounts could not be reached (e.g. the cluster is unavailable); timeouts, shutdown and a lost client
            // are the session's to handle.
            LogAuthUnavailable(_remote, ex);
            result = (AuthOutcome.Unavailable, null);
        }

        Observability.SmtpMetrics.AuthEnded(mechanism, result.Outcome switch
        {
            AuthOutcome.Success => "success",
            AuthOutcome.Failed => "failure",
            AuthOutcome.LockedOut => "locked_out",
            AuthOutcome.Cancelled => "cancelled",
            AuthOutcome.Malformed => "malformed",
            _ => "unavailable",
        });
        if (result.Outcome is AuthOutcome.Success or AuthOutcome.Failed
            // Every plugin hears of AUTH, whatever its scope: the attempt is what decides which scope the session is in.
            && Plugins.Current.Auth is { Length: > 0 } hooks
            && !await AuthHooksAsync(hooks, mechanism, result.User, result.Outcome == AuthOutcome.Success).ConfigureAwait(false))
        {
            return;
        }

        switch (result.Outcome)
        {
            case AuthOutcome.Success:
                LogAuthenticated(_user!.Name, mechanism, _remote);
                Reply(235, "2.7.0", "Authentication successful");
                break;
            case AuthOutcome.Failed:
                LogAuthFailed(result.User ?? "(no valid name)", mechanism, _remote);
                Error(535, "5.7.8", "Authentication credentials invalid");
                break;
            case AuthOutcome.Cancelled:
                Error(501, "5.0.0", "Authentication cancelled");
                break;
            case AuthOutcome.Malformed:
                Error(501, "5.5.2", "Malformed authentication response");
                break;
            case AuthOutcome.LockedOut:
                // Refused by an AUTH request hook before anything was checked: the auth-lockout plugin's 454 4.7.0, or
                // another plugin's answer (which the plugin host logged).
                var refusal = _authRefusal ?? Admission.AuthLockoutPlugin.LockedOut;
                if (refusal == Admission.AuthLockoutPlugin.LockedOut)
                {
                    LogAuthLockedOut(result.User ?? "(any)", _remote);
                }

                Error(refusal.Code, refusal.EnhancedCode ?? (refusal.Code >= 500 ? "5.7.1" : "4.7.0"), refusal.Text ?? "Authentication refused by policy");
                break;
            case AuthOutcome.Unavailable:
                Reply(454, "4.7.0", "Temporary authentication failure");
                break;
            default:
                _quit = true;
                break;
        }
    }

    /// <summary>
    /// Drives one mechanism's state machine (<see cref="SaslMechanism"/>): each challenge becomes a 334 line and each
    /// response line is decoded and handed back, until the mechanism decides.
    /// </summary>
    private async Task<(AuthOutcome, string?)> RunMechanismAsync(string name, byte[]? initial)
    {
        var mechanism = SaslMechanism.Create(name, new SaslContext(
            _server.Users, MayTryAsync, _server.DecoyPassword, _server.DecoySecret, _server.HostName, _server.TimeProvider, _remote.Address, _sessionToken));
        var step = await mechanism.StartAsync(initial).ConfigureAwait(false);
        while (step.Kind == SaslStepKind.Challenge)
        {
            var (outcome, response) = await ExchangeAsync(step.Challenge!).ConfigureAwait(false);
            if (outcome != AuthOutcome.Success)
            {
                return (outcome, step.User);
            }

            step = await mechanism.ContinueAsync(response!).ConfigureAwait(false);
        }

        return step.Kind switch
        {
            SaslStepKind.Authenticated => Conclude(step.Account, valid: true, step.User!),
            SaslStepKind.LockedOut => (AuthOutcome.LockedOut, step.User),
            SaslStepKind.Malformed => (AuthOutcome.Malformed, step.User),
            _ => (AuthOutcome.Failed, step.User),
        };
    }

    /// <summary>Whether the client may try <paramref name="name"/> now: the AUTH request hooks, asked before its password is checked.</summary>
    private ValueTask<bool> MayTryAsync(string name) => AuthRequestHooksAsync(_authMechanism!, name);

    /// <summary>The mechanism of the AUTH exchange in progress, for the hooks the mechanism asks.</summary>
    private string? _authMechanism;

    /// <summary>A right password is not enough: only accounts with the sender role may use SMTP.</summary>
    private (AuthOutcome, string?) Conclude(UserAccount? account, bool valid, string name)
    {
        if (!valid || account is null)
        {
            return (AuthOutcome.Failed, name);
        }

        if (!account.Has(UserRole.Sender))
        {
            LogNotSender(name, _remote);
            return (AuthOutcome.Failed, name);
        }

        _user = account;
        return (AuthOutcome.Success, name);
    }

    /// <summary>Sends a 334 challenge and reads the client's response (RFC 4954 §4); "*" cancels.</summary>
    private async Task<(AuthOutcome, byte[]?)> ExchangeAsync(byte[] challenge)
    {
        Write($"334 {Convert.ToBase64String(challenge)}\r\n");
        string? line;
        _readingSasl = true;
        try
        {
            line = await ReadCommandAsync().ConfigureAwait(false);
        }
        finally
        {
            _readingSasl = false;
        }

        if (line is null)
        {
            return (AuthOutcome.ConnectionClosed, null);
        }

        if (line == "*")
        {
            return (AuthOutcome.Cancelled, null);
        }

        return ReferenceEquals(line, LineTooLong) || ReferenceEquals(line, InvalidUtf8) || DecodeBase64(line) is not { } bytes ? (AuthOutcome.Malformed, null) : (AuthOutcome.Success, bytes);
    }

    private static byte[]? DecodeBase64(string text)
    {
        var buffer = new byte[(text.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(text.Trim(), buffer, out var written) ? buffer[..written] : null;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Client} authenticated as {User} with {Mechanism}")]
    private partial void LogAuthenticated(string user, string mechanism, IPEndPoint client);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Client} failed to authenticate as {User} with {Mechanism}")]
    private partial void LogAuthFailed(string user, string mechanism, IPEndPoint client);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Client} refused AUTH as {User}: too many failed attempts")]
    private partial void LogAuthLockedOut(string user, IPEndPoint client);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Client} gave the right password for {User}, which lacks the sender role")]
    private partial void LogNotSender(string user, IPEndPoint client);

    [LoggerMessage(Level = LogLevel.Error, Message = "AUTH from {Client} could not be checked; answered 454")]
    private partial void LogAuthUnavailable(IPEndPoint client, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Client} (user {User}) refused as sender <{Sender}>")]
    private partial void LogSenderRefused(string user, string sender, IPEndPoint client);
}
