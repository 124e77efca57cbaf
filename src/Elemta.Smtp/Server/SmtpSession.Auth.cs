using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Text;
using Elemta.Auth;
using Elemta.Contracts;
using Elemta.Smtp.Protocol;
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
        if (_user is not null || _server.IsTrusted(_remote.Address))
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
        try
        {
            // The address first: a client already locked out learns nothing more, whatever it sends.
            var (allowed, _) = await _server.AuthFailures.CheckAsync(_remote.Address, null, _sessionToken).ConfigureAwait(false);
            result = !allowed ? (AuthOutcome.LockedOut, null) : mechanism switch
            {
                "PLAIN" => await PlainAsync(initial).ConfigureAwait(false),
                "LOGIN" => await LoginAsync(initial).ConfigureAwait(false),
                "CRAM-MD5" => await CramMd5Async(initial).ConfigureAwait(false),
                _ => await ScramAsync(initial).ConfigureAwait(false),
            };
            if (result.Outcome == AuthOutcome.Failed)
            {
                await _server.AuthFailures.RecordFailureAsync(_remote.Address, result.User, _sessionToken).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is not (OperationCanceledException or IOException or System.Net.Sockets.SocketException))
        {
            // The accounts or the limits could not be reached (e.g. the cluster is unavailable); timeouts, shutdown
            // and a lost client are the session's to handle.
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
                LogAuthLockedOut(result.User ?? "(any)", _remote);
                Error(454, "4.7.0", "Too many failed authentication attempts, try again later");
                break;
            case AuthOutcome.Unavailable:
                Reply(454, "4.7.0", "Temporary authentication failure");
                break;
            default:
                _quit = true;
                break;
        }
    }

    /// <summary>PLAIN (RFC 4616): [authzid] NUL authcid NUL passwd.</summary>
    private async Task<(AuthOutcome, string?)> PlainAsync(byte[]? initial)
    {
        var (outcome, message) = initial is not null ? (AuthOutcome.Success, initial) : await ExchangeAsync([]).ConfigureAwait(false);
        if (outcome != AuthOutcome.Success)
        {
            return (outcome, null);
        }

        var fields = DecodeUtf8(message!)?.Split('\0');
        if (fields is not { Length: 3 })
        {
            return (AuthOutcome.Malformed, null);
        }

        var name = Passwords.NormalizeUserName(fields[1], out _);
        // Acting as another account (a different authzid) is not supported: only the same one, or none.
        if (name is null || (fields[0].Length > 0 && !string.Equals(Passwords.NormalizeUserName(fields[0], out _), name, StringComparison.Ordinal)))
        {
            return (AuthOutcome.Failed, name);
        }

        return await CheckPasswordAsync(name, fields[2]).ConfigureAwait(false);
    }

    /// <summary>LOGIN (draft-murchison-sasl-login): the user name, then the password, each prompted.</summary>
    private async Task<(AuthOutcome, string?)> LoginAsync(byte[]? initial)
    {
        var (outcome, userBytes) = initial is not null ? (AuthOutcome.Success, initial) : await ExchangeAsync("Username:"u8.ToArray()).ConfigureAwait(false);
        if (outcome != AuthOutcome.Success)
        {
            return (outcome, null);
        }

        var (passwordOutcome, passwordBytes) = await ExchangeAsync("Password:"u8.ToArray()).ConfigureAwait(false);
        if (passwordOutcome != AuthOutcome.Success)
        {
            return (passwordOutcome, null);
        }

        var user = DecodeUtf8(userBytes!);
        var password = DecodeUtf8(passwordBytes!);
        if (user is null || password is null)
        {
            return (AuthOutcome.Malformed, null);
        }

        var name = Passwords.NormalizeUserName(user, out _);
        return name is null ? (AuthOutcome.Failed, null) : await CheckPasswordAsync(name, password).ConfigureAwait(false);
    }

    private async Task<(AuthOutcome, string?)> CheckPasswordAsync(string name, string password)
    {
        if (!await MayTryAsync(name).ConfigureAwait(false))
        {
            return (AuthOutcome.LockedOut, name);
        }

        var account = await _server.Users.FindAsync(name, _sessionToken).ConfigureAwait(false);
        // An unknown name is checked against a decoy so that it takes as long as a known one.
        var valid = Passwords.Verify(account?.Credentials.Password ?? _server.DecoyPassword, password);
        return Conclude(account, valid, name);
    }

    /// <summary>CRAM-MD5 (RFC 2195): a fresh challenge each time, answered with "user HMAC-MD5(challenge)".</summary>
    private async Task<(AuthOutcome, string?)> CramMd5Async(byte[]? initial)
    {
        if (initial is not null)
        {
            return (AuthOutcome.Malformed, null); // the server speaks first in CRAM-MD5
        }

        var challenge = string.Create(CultureInfo.InvariantCulture, $"<{RandomNumberGenerator.GetHexString(16, lowercase: true)}.{_server.TimeProvider.GetUtcNow().ToUnixTimeSeconds()}@{_server.HostName}>");
        var (outcome, response) = await ExchangeAsync(Encoding.ASCII.GetBytes(challenge)).ConfigureAwait(false);
        if (outcome != AuthOutcome.Success)
        {
            return (outcome, null);
        }

        var text = DecodeUtf8(response!);
        var space = text?.LastIndexOf(' ') ?? -1;
        if (text is null || space <= 0)
        {
            return (AuthOutcome.Malformed, null);
        }

        var name = Passwords.NormalizeUserName(text[..space], out _);
        if (name is null)
        {
            return (AuthOutcome.Failed, null);
        }

        if (!await MayTryAsync(name).ConfigureAwait(false))
        {
            return (AuthOutcome.LockedOut, name);
        }

        var account = await _server.Users.FindAsync(name, _sessionToken).ConfigureAwait(false);
        var valid = account?.Credentials.CramMd5 is { } credential && CramMd5.Verify(credential, challenge, text[(space + 1)..]);
        return Conclude(account, valid, name);
    }

    /// <summary>
    /// SCRAM-SHA-256 (RFC 5802 §5, RFC 7677) without channel binding: client-first, server-first (nonce, salt,
    /// iterations), client-final with the proof, server-final with the server's signature, then 235.
    /// </summary>
    private async Task<(AuthOutcome, string?)> ScramAsync(byte[]? initial)
    {
        var (outcome, firstBytes) = initial is not null ? (AuthOutcome.Success, initial) : await ExchangeAsync([]).ConfigureAwait(false);
        if (outcome != AuthOutcome.Success)
        {
            return (outcome, null);
        }

        if (DecodeUtf8(firstBytes!) is not { } clientFirst || !TryParseScramClientFirst(clientFirst, out var gs2Header, out var bare, out var user, out var clientNonce))
        {
            return (AuthOutcome.Malformed, null);
        }

        var name = Passwords.NormalizeUserName(user, out _);
        if (name is null)
        {
            return (AuthOutcome.Failed, null);
        }

        if (!await MayTryAsync(name).ConfigureAwait(false))
        {
            return (AuthOutcome.LockedOut, name);
        }

        var account = await _server.Users.FindAsync(name, _sessionToken).ConfigureAwait(false);
        var credential = account?.Credentials.Scram;
        // A name without SCRAM keys gets a stable decoy salt, so the exchange looks the same as for a real account.
        var salt = credential?.Salt ?? ScramSha256.DecoySalt(_server.DecoySecret, name);
        var iterations = credential?.Iterations ?? 4096;
        var nonce = clientNonce + Convert.ToBase64String(RandomNumberGenerator.GetBytes(18));
        var serverFirst = $"r={nonce},s={Convert.ToBase64String(salt)},i={iterations.ToString(CultureInfo.InvariantCulture)}";
        var (finalOutcome, finalBytes) = await ExchangeAsync(Encoding.UTF8.GetBytes(serverFirst)).ConfigureAwait(false);
        if (finalOutcome != AuthOutcome.Success)
        {
            return (finalOutcome, name);
        }

        var clientFinal = DecodeUtf8(finalBytes!);
        var proofAt = clientFinal?.LastIndexOf(",p=", StringComparison.Ordinal) ?? -1;
        if (clientFinal is null || proofAt < 0 || DecodeBase64(clientFinal[(proofAt + 3)..]) is not { } proof)
        {
            return (AuthOutcome.Malformed, name);
        }

        var withoutProof = clientFinal[..proofAt];
        var attributes = withoutProof.Split(',');
        // c= must repeat the GS2 header, and r= must be the nonce this server made (RFC 5802 §5.1).
        var bindingOk = attributes.Length >= 2
            && attributes[0] == "c=" + Convert.ToBase64String(Encoding.UTF8.GetBytes(gs2Header))
            && attributes[1] == "r=" + nonce;
        var signature = bindingOk && credential is not null ? ScramSha256.Verify(credential, $"{bare},{serverFirst},{withoutProof}", proof) : null;
        if (signature is null || account is null)
        {
            return (AuthOutcome.Failed, name);
        }

        // RFC 4954 §4: additional data with success goes in a 334 the client answers with an empty line.
        var (lastOutcome, _) = await ExchangeAsync(Encoding.ASCII.GetBytes("v=" + Convert.ToBase64String(signature))).ConfigureAwait(false);
        return lastOutcome != AuthOutcome.Success ? (lastOutcome, name) : Conclude(account, valid: true, name);
    }

    /// <summary>Parses <c>gs2-header client-first-message-bare</c>; only "n" and "y" (no channel binding) are accepted.</summary>
    private static bool TryParseScramClientFirst(string message, out string gs2Header, out string bare, out string user, out string nonce)
    {
        gs2Header = bare = user = nonce = string.Empty;
        if (message.Length < 3 || message[0] is not ('n' or 'y') || message[1] != ',')
        {
            return false;
        }

        var second = message.IndexOf(',', 2);
        if (second < 0)
        {
            return false;
        }

        gs2Header = message[..(second + 1)];
        bare = message[(second + 1)..];
        var fields = bare.Split(',');
        if (fields.Length < 2 || !fields[0].StartsWith("n=", StringComparison.Ordinal) || !fields[1].StartsWith("r=", StringComparison.Ordinal) || fields[1].Length < 3)
        {
            return false;
        }

        // RFC 5802 §5.1: "," and "=" in the name are sent as =2C and =3D.
        user = fields[0][2..].Replace("=2C", ",", StringComparison.Ordinal).Replace("=3D", "=", StringComparison.Ordinal);
        nonce = fields[1][2..];
        var authzid = message[2..second];
        // An authorization identity is accepted only when it is the same account.
        return authzid.Length == 0 || (authzid.StartsWith("a=", StringComparison.Ordinal) && string.Equals(authzid[2..], user, StringComparison.OrdinalIgnoreCase));
    }

    /// <summary>Whether the name may try now (the address was checked before the exchange began).</summary>
    private async Task<bool> MayTryAsync(string name)
    {
        var (allowed, _) = await _server.AuthFailures.CheckAsync(_remote.Address, name, _sessionToken).ConfigureAwait(false);
        return allowed;
    }

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

        return ReferenceEquals(line, LineTooLong) || DecodeBase64(line) is not { } bytes ? (AuthOutcome.Malformed, null) : (AuthOutcome.Success, bytes);
    }

    private static byte[]? DecodeBase64(string text)
    {
        var buffer = new byte[(text.Length * 3 / 4) + 3];
        return Convert.TryFromBase64String(text.Trim(), buffer, out var written) ? buffer[..written] : null;
    }

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static string? DecodeUtf8(byte[] bytes)
    {
        try
        {
            return StrictUtf8.GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return null;
        }
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
