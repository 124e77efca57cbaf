using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using Elemta.Contracts;
using Elemta.Delivery.Dns;
using Elemta.Delivery.Tls;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MimeKit;

namespace Elemta.Delivery.Smtp;

/// <summary>
/// Delivers over SMTP with MailKit: resolves the destination, then tries each host and address in order until
/// one gives definite answers. Opportunistic STARTTLS (RFC 7435): encrypt when offered, without requiring a
/// certificate that verifies, since the alternative is plaintext. Sessions are reused for the next message to the
/// same destination through <see cref="SmtpConnectionPool"/>, which the agent owns and closes when disposed.
/// </summary>
public sealed partial class SmtpDeliveryAgent(
    MxResolver resolver,
    IOptions<DeliveryOptions> options,
    TimeProvider timeProvider,
    ILogger<SmtpDeliveryAgent> logger,
    MtaStsResolver? mtaSts = null) : IDeliveryAgent, IAsyncDisposable, IDisposable
{
    private readonly DeliveryOptions _options = options.Value;
    private readonly string _heloName = string.IsNullOrWhiteSpace(options.Value.HeloName) ? System.Net.Dns.GetHostName() : options.Value.HeloName;
    private readonly SmtpConnectionPool _pool = new(options.Value, timeProvider);
    private readonly OutboundTls _tls = new(options.Value);
    private readonly DaneResolver? _dane = options.Value.Dane.Enabled ? new DaneResolver(resolver.Dns) : null;

    /// <summary>The connection pool, for tests.</summary>
    internal SmtpConnectionPool Pool => _pool;

    /// <inheritdoc />
    public async Task<DeliveryAttempt> DeliverAsync(DeliveryWork work, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var started = timeProvider.GetUtcNow();
        // A plugin's reroute first; then rules (by sender, domain, time of day), decided per delivery; then routes, the
        // default relay, MX.
        RouteTarget? route;
        if (work.NextHop is { } hop)
        {
            route = resolver.Routing.NextHop(hop, out var hopError);
            if (route is null)
            {
                // Temporary, so the recipients wait for the plugin (or its settings) to be corrected instead of bouncing.
                var reply = $"451 4.3.5 next hop '{hop}' named by a plugin is neither a relay in Elemta:Delivery:Relays nor host:port ({hopError})";
                return Attempt(string.Empty, started, [.. work.Recipients.Select(r => new RecipientResult(r, RecipientOutcome.Transient, reply, DeliveryError.Local))], null, null, null);
            }
        }
        else
        {
            route = resolver.Routing.Select(work.Sender, work.Domain, started);
        }

        var resolution = route is null
            ? await resolver.ResolveAsync(work.Domain, cancellationToken).ConfigureAwait(false)
            : await resolver.ResolveRouteAsync(route, cancellationToken).ConfigureAwait(false);
        if (resolution.Failure is not null)
        {
            var outcome = resolution.FailureIsPermanent ? RecipientOutcome.Permanent : RecipientOutcome.Transient;
            return Attempt(string.Empty, started, [.. work.Recipients.Select(r => new RecipientResult(r, outcome, resolution.Failure, DeliveryError.Dns))], null, null, null);
        }

        // A relay's own policy replaces the domain's: the session is with the relay, not the domain's MX.
        var relay = resolution.Relay is { } relayName ? resolver.Routing.Relays[relayName] : null;
        // REQUIRETLS (RFC 8689) asks for at least a verified certificate, whatever the domain's own policy.
        var policy = relay?.Options.TlsPolicy ?? _tls.PolicyFor(work.Domain);
        if (work.RequireTls && policy < TlsPolicy.Verify)
        {
            policy = TlsPolicy.Verify;
        }

        // MTA-STS (RFC 8461) in enforce mode: only the MX hosts the policy names, and only with a verified certificate.
        // Routes are the operator's own decision and skip it.
        var targets = resolution.Targets;
        if (mtaSts is not null && !resolution.IsRoute
            && await mtaSts.GetPolicyAsync(work.Domain, cancellationToken).ConfigureAwait(false) is { Mode: MtaStsMode.Enforce } sts)
        {
            targets = [.. targets.Where(t => sts.Matches(t.Name))];
            if (targets.Count == 0)
            {
                var reply = $"451 4.7.5 MTA-STS: no MX host of {work.Domain} matches its policy (mx: {string.Join(", ", sts.MxPatterns)})";
                return Attempt(string.Empty, started, [.. work.Recipients.Select(r => new RecipientResult(r, RecipientOutcome.Transient, reply, DeliveryError.Tls))], null, null, null);
            }

            if (policy < TlsPolicy.Verify)
            {
                policy = TlsPolicy.Verify;
            }
        }

        MimeMessage message;
        // The stored content is already an array: read it in place rather than copy the whole message again.
        var bytes = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(content, out var segment)
            ? segment
            : new ArraySegment<byte>(content.ToArray());
        // Persistent parsing: MIME parts refer to ranges of the stored bytes instead of copying them, which matters
        // for large messages; the stream therefore lives as long as the message.
        using var stream = new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false);
        message = await MimeMessage.LoadAsync(stream, persistent: true, cancellationToken).ConfigureAwait(false);
        if (TextLines.AnyLongerThan(bytes.AsSpan(), TextLines.MaxRelayLineLength))
        {
            // The receiving side accepts lines beyond RFC 5321's 998 octets (Elemta:Smtp:MaxLineLength), but the next hop
            // need not. Postfix folds such lines (smtp_line_length_limit), which changes the text; re-encoding the parts
            // that hold them as quoted-printable (RFC 2045 §6.7) keeps every octet, since the reader decodes it back.
            // A DKIM signature over those parts breaks either way.
            message.Prepare(EncodingConstraint.EightBit, TextLines.MaxRelayLineLength);
            message.MimeVersion ??= new Version(1, 0);
            LogReencoded(work.MessageId);
        }

        using (message)
        {
            var last = new HostResult(null, "451 4.4.1 no destination host could be reached", Error: DeliveryError.Connect);
            var lastHost = string.Empty;
            // RFC 8689 §5: when every host failed the REQUIRETLS conditions, the message is returned, not retried.
            var onlyTlsPolicyFailures = work.RequireTls;
            foreach (var target in targets)
            {
                var (hostPolicy, dane, daneFailure) = await DanePolicyAsync(target, resolution.IsRoute, policy, work.RequireTls, cancellationToken).ConfigureAwait(false);
                if (daneFailure is not null)
                {
                    lastHost = $"{target.Name}:{target.Port}";
                    last = daneFailure.Value;
                    onlyTlsPolicyFailures = false;
                    LogHostFailed(work.MessageId, lastHost, last.Failure!);
                    continue;
                }

                foreach (var address in target.Addresses)
                {
                    var destination = new SmtpDestination(target.Name, address, target.Port, hostPolicy, dane?.Key, relay?.Name);
                    lastHost = destination.ToString();
                    var result = await TryHostAsync(work, message, destination, dane, relay, cancellationToken).ConfigureAwait(false);
                    if (result.Results is { } results)
                    {
                        return Attempt(lastHost, started, results, result.RemoteAddress, result.Tls, result.TransferStartedAt);
                    }

                    last = result;
                    onlyTlsPolicyFailures &= result.TlsPolicyFailure;
                    LogHostFailed(work.MessageId, lastHost, result.Failure!);
                }
            }

            // Nobody gave a definite answer: everyone waits for the next attempt, unless no host can ever meet REQUIRETLS.
            var outcome = onlyTlsPolicyFailures && lastHost.Length > 0 ? RecipientOutcome.Permanent : RecipientOutcome.Transient;
            return Attempt(lastHost, started, [.. work.Recipients.Select(r => new RecipientResult(r, outcome, last.Failure!, last.Error))],
                last.RemoteAddress, last.Tls, last.TransferStartedAt);
        }
    }

    /// <summary>
    /// The attempt, ended now. Its setup runs from <paramref name="started"/> to <paramref name="transferStarted"/>, the
    /// MAIL FROM of the session that gave the outcome; without a transfer the whole attempt was setup.
    /// </summary>
    private DeliveryAttempt Attempt(string host, DateTimeOffset started, ImmutableArray<RecipientResult> results, string? remoteAddress, string? tls, DateTimeOffset? transferStarted)
    {
        var ended = timeProvider.GetUtcNow();
        return new DeliveryAttempt(host, started, results, remoteAddress, tls, ended - started, (transferStarted ?? ended) - started);
    }

    /// <summary>
    /// DANE for one MX host (RFC 7672): with an authenticated MX and addresses, its TLSA records decide. Usable ones make
    /// the session need STARTTLS with a chain that matches them; authenticated but unusable ones still make TLS
    /// mandatory (section 2.2); none, or no AD bit, leave <paramref name="policy"/> as it is (MTA-STS, per-domain policy).
    /// A failed TLSA lookup skips the host. Routes, and domains whose configured policy is <see cref="TlsPolicy.None"/>,
    /// are the operator's decision and skip DANE.
    /// </summary>
    private async Task<(TlsPolicy Policy, DaneRecords? Dane, HostResult? Failure)> DanePolicyAsync(
        DeliveryTarget target, bool isRoute, TlsPolicy policy, bool requireTls, CancellationToken cancellationToken)
    {
        if (_dane is null || isRoute || !target.Secure || (policy == TlsPolicy.None && !requireTls))
        {
            return (policy, null, null);
        }

        var lookup = await _dane.LookupAsync(target.Name, target.Port, cancellationToken).ConfigureAwait(false);
        return lookup.State switch
        {
            DaneState.Usable => (policy < TlsPolicy.Required ? TlsPolicy.Required : policy, lookup.Records, null),
            DaneState.UnusableOnly => (policy < TlsPolicy.Required ? TlsPolicy.Required : policy, null, null),
            DaneState.Failed => (policy, null, new HostResult(null, $"451 4.4.3 DANE: {lookup.Failure}", Error: DeliveryError.Dns)),
            _ => (policy, null, null),
        };
    }

    /// <summary>Sends QUIT on every idle pooled connection and waits for the replies.</summary>
    public ValueTask DisposeAsync() => _pool.DisposeAsync();

    /// <summary>Like <see cref="DisposeAsync"/>, for containers that dispose synchronously.</summary>
    public void Dispose() => _pool.Dispose();

    /// <summary>
    /// Either per-recipient results (a definite answer) or a failure that lets the next host be tried, with the class
    /// of the failure and, when a TCP connection was made, its address and the session's TLS.
    /// </summary>
    private readonly record struct HostResult(
        ImmutableArray<RecipientResult>? Results,
        string? Failure,
        bool TlsPolicyFailure = false,
        DeliveryError Error = DeliveryError.None,
        string? RemoteAddress = null,
        string? Tls = null,
        DateTimeOffset? TransferStartedAt = null);

    private async Task<HostResult> TryHostAsync(DeliveryWork work, MimeMessage message, SmtpDestination destination, DaneRecords? dane, DeliveryRouting.Relay? relay, CancellationToken cancellationToken)
    {
        // A REQUIRETLS message never rides on a pooled session: whether that one offered REQUIRETLS is not re-checked.
        if (!work.RequireTls && _pool.Rent(destination) is { } pooled)
        {
            // A pooled session can die between the liveness check and the first command (the server's own idle
            // timeout racing ours). That says nothing about the message, so it gets one fresh connection instead.
            var reused = await SendAsync(work, message, pooled, reused: true, cancellationToken).ConfigureAwait(false);
            if (reused is { } result)
            {
                return result;
            }

            LogReuseFailed(work.MessageId, destination.ToString());
        }

        var (connection, failure) = await ConnectAsync(destination, work.RequireTls, dane, cancellationToken).ConfigureAwait(false);
        if (connection is null)
        {
            return failure;
        }

        if (relay?.Options.Username is { Length: > 0 })
        {
            var refused = await AuthenticateAsync(connection, relay, work, cancellationToken).ConfigureAwait(false);
            if (refused is { } authFailure)
            {
                return authFailure;
            }
        }

        return (await SendAsync(work, message, connection, reused: false, cancellationToken).ConfigureAwait(false))!.Value;
    }

    /// <summary>
    /// Opens a session: TCP connect, greeting, EHLO, then STARTTLS as <see cref="SmtpDestination.Tls"/> says (and the
    /// REQUIRETLS extension when <paramref name="requireTls"/>). Either a connection or a failure; the failure's flag
    /// says it was the REQUIRETLS conditions rather than the network or the domain's TLS policy. With
    /// <paramref name="dane"/>, the certificate is checked against the host's TLSA records instead of the PKIX roots.
    /// </summary>
    private async Task<(SmtpConnection? Connection, HostResult Failure)> ConnectAsync(SmtpDestination destination, bool requireTls, DaneRecords? dane, CancellationToken cancellationToken)
    {
        var policy = destination.Tls;
        var verified = false;
        var daneMatch = DaneMatch.None;
        var client = new RecordingSmtpClient
        {
            LocalDomain = _heloName,
            Timeout = (int)Math.Min(int.MaxValue, _options.CommandTimeout.TotalMilliseconds),
            CheckCertificateRevocation = false,
            RequireTLS = requireTls,
            SslProtocols = _tls.Protocols,
            // Below Verify any certificate is better than plaintext (RFC 7435); whether it verified is still recorded.
            ServerCertificateValidationCallback = (_, certificate, chain, errors) =>
            {
                if (dane is not null)
                {
                    // RFC 7672 section 3: with usable TLSA records they alone decide, PKIX roots play no part.
                    daneMatch = dane.Match(certificate, chain, errors);
                    verified = daneMatch != DaneMatch.None;
                    return verified;
                }

                verified = _tls.Verifies(certificate, chain, errors);
                return verified || policy < TlsPolicy.Verify;
            },
        };

        var address = destination.Address;
        var remote = new IPEndPoint(address, destination.Port).ToString();
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        var connected = false;
        try
        {
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectTimeout.CancelAfter(_options.ConnectTimeout);
                await socket.ConnectAsync(new IPEndPoint(address, destination.Port), connectTimeout.Token).ConfigureAwait(false);
            }

            connected = true;
            var secureOptions = policy switch
            {
                TlsPolicy.None => SecureSocketOptions.None,
                TlsPolicy.Opportunistic => SecureSocketOptions.StartTlsWhenAvailable,
                _ => SecureSocketOptions.StartTls,
            };
            await client.ConnectAsync(socket, destination.Host, destination.Port, secureOptions, cancellationToken).ConfigureAwait(false);
            Observability.DeliveryMetrics.SessionOpened(client.IsSecure, client.SslProtocol);
            var tls = OutboundTls.Describe(client.IsSecure, client.SslProtocol, client.SslCipherSuite, daneMatch switch
            {
                DaneMatch.EndEntity => "dane-ee",
                DaneMatch.TrustAnchor => "dane-ta",
                _ => verified ? "verified" : "unverified",
            });
            if (requireTls && !client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS))
            {
                await client.DisconnectAsync(quit: true, CancellationToken.None).ConfigureAwait(false);
                client.Dispose();
                socket.Dispose();
                return (null, new HostResult(null, $"550 5.7.30 REQUIRETLS support required: {destination.Host} does not offer REQUIRETLS", true, DeliveryError.Tls, remote, tls));
            }

            return (new SmtpConnection(destination, client, socket) { TlsDescription = tls }, default);
        }
        catch (Exception ex) when (ex is NotSupportedException or SslHandshakeException && !cancellationToken.IsCancellationRequested)
        {
            // No STARTTLS where the policy needs it (MailKit's NotSupportedException), or a failed handshake: a
            // certificate that does not verify under Verify, or no common protocol version.
            client.Dispose();
            socket.Dispose();
            var needsVerified = policy >= TlsPolicy.Verify || dane is not null;
            var reason = ex is NotSupportedException
                ? $"{destination.Host} does not offer STARTTLS"
                : dane is not null && !verified ? $"the certificate of {destination.Host} matches none of its TLSA records"
                : needsVerified && !verified ? $"the certificate of {destination.Host} does not verify" : $"TLS handshake with {destination.Host} failed: {ex.Message}";
            var reply = requireTls
                ? $"550 5.7.10 REQUIRETLS: no verified TLS with {destination.Host}: {reason}"
                : dane is not null ? $"451 4.7.5 DANE: {reason}"
                : needsVerified && !verified ? $"451 4.7.5 TLS policy {policy}: {reason}" : $"451 4.7.4 TLS policy {policy}: {reason}";
            return (null, new HostResult(null, reply, requireTls, DeliveryError.Tls, remote));
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or TimeoutException or SmtpProtocolException or SmtpCommandException
                                   && !cancellationToken.IsCancellationRequested)
        {
            client.Dispose();
            socket.Dispose();
            if (ex is SmtpCommandException command)
            {
                return (null, new HostResult(null, FormatReply((int)command.StatusCode, command.Message), Error: ReplyError((int)command.StatusCode), RemoteAddress: remote));
            }

            var error = ex is OperationCanceledException || IsTimeout(ex) ? DeliveryError.Timeout : DeliveryError.Connect;
            return (null, new HostResult(null, $"451 4.4.1 connection to {remote} failed: {ex.Message}", Error: error, RemoteAddress: connected ? remote : null));
        }
        catch
        {
            client.Dispose();
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// SMTP AUTH with a relay (RFC 4954), only inside TLS unless the relay explicitly allows plaintext. Null when
    /// authenticated; otherwise the session is closed and the failure returned. Rejected credentials (535) are the
    /// operator's error, not the message's: every recipient is deferred (<c>451 4.7.8</c>, class
    /// <see cref="DeliveryError.Local"/>) rather than bounced, so mail waits until the password is fixed.
    /// </summary>
    private async Task<HostResult?> AuthenticateAsync(SmtpConnection connection, DeliveryRouting.Relay relay, DeliveryWork work, CancellationToken cancellationToken)
    {
        var client = connection.Client;
        var host = connection.Destination.Host;
        HostResult? failure = null;
        if (!client.IsSecure && !(relay.Options.TlsPolicy == TlsPolicy.None && relay.Options.AllowPlaintextAuth))
        {
            failure = new HostResult(null, $"451 4.7.0 relay {relay.Name}: {host} did not start TLS, and credentials are only sent inside TLS", Error: DeliveryError.Tls);
        }
        else if (!client.Capabilities.HasFlag(SmtpCapabilities.Authentication))
        {
            failure = new HostResult(null, $"451 4.7.0 relay {relay.Name}: {host} does not offer AUTH", Error: DeliveryError.Local);
        }
        else
        {
            try
            {
                await client.AuthenticateAsync(new NetworkCredential(relay.Options.Username, relay.Password), cancellationToken).ConfigureAwait(false);
                return null;
            }
            catch (AuthenticationException ex)
            {
                var reply = $"451 4.7.8 relay {relay.Name} rejected the credentials of {relay.Options.Username} ({ex.Message}); deferred until Elemta:Delivery:Relays:{relay.Name} is corrected";
                failure = new HostResult([.. work.Recipients.Select(r => new RecipientResult(r, RecipientOutcome.Transient, reply, DeliveryError.Local))], null);
            }
            catch (SmtpCommandException ex)
            {
                failure = new HostResult(null, $"451 4.7.0 relay {relay.Name}: AUTH failed: {FormatReply((int)ex.StatusCode, ex.Message)}", Error: DeliveryError.TemporaryReply);
            }
            catch (Exception ex) when (ex is IOException or SmtpProtocolException or SocketException or NotSupportedException
                                       || (ex is OperationCanceledException or TimeoutException && !cancellationToken.IsCancellationRequested))
            {
                failure = new HostResult(null, $"451 4.4.2 relay {relay.Name}: session with {host} failed during AUTH: {ex.Message}", Error: DeliveryError.Connect);
            }
        }

        await connection.QuitAsync(SmtpConnectionPool.QuitTimeout, timeProvider).ConfigureAwait(false);
        return failure.Value with { RemoteAddress = connection.RemoteAddress, Tls = connection.TlsDescription };
    }

    private static DeliveryError ReplyError(int code) => code >= 500 ? DeliveryError.PermanentReply : DeliveryError.TemporaryReply;

    private static bool IsTimeout(Exception ex) =>
        ex is TimeoutException || ex.InnerException is TimeoutException || (ex.InnerException ?? ex) is SocketException { SocketErrorCode: SocketError.TimedOut };

    /// <summary>
    /// Runs one transaction on <paramref name="connection"/>, which it consumes: a session that ended the
    /// transaction cleanly goes back to the pool, any other is closed. Null only when a reused session broke
    /// before a definite answer, so that the caller retries on a fresh one.
    /// </summary>
    private async Task<HostResult?> SendAsync(DeliveryWork work, MimeMessage message, SmtpConnection connection, bool reused, CancellationToken cancellationToken)
    {
        var client = connection.Client;
        var address = connection.Destination.Address;
        var port = connection.Destination.Port;
        // Where connection setup ends and transmission begins, for the delivery line's delays (c/d).
        var transferStarted = timeProvider.GetUtcNow();
        client.BeginTransaction();
        // Per message: a verified session opened for a REQUIRETLS message may carry ordinary ones afterwards.
        client.RequireTLS = work.RequireTls;

        // Cleared once the session is handed back or quit; whatever is left at the end is dropped.
        SmtpConnection? owned = connection;
        try
        {
            var sender = work.Sender.Length == 0 ? new MailboxAddress(string.Empty, string.Empty) : MailboxAddress.Parse(work.Sender);
            var recipients = work.Recipients.Select(r => new MailboxAddress(string.Empty, r)).ToList();
            var response = await client.SendAsync(FormatOptions.Default, message, sender, recipients, cancellationToken).ConfigureAwait(false);
            var results = work.Recipients.Select(r => client.Rejected.TryGetValue(r, out var rejected)
                    ? rejected
                    : new RecipientResult(r, RecipientOutcome.Delivered, $"250 {response}"))
                .ToImmutableArray();

            // The transaction ended with a 250 to DATA: the session is clean for the next one.
            connection.Messages++;
            owned = null;
            await _pool.ReturnAsync(connection).ConfigureAwait(false);
            return new HostResult(results, null, RemoteAddress: connection.RemoteAddress, Tls: connection.TlsDescription, TransferStartedAt: transferStarted);
        }
        catch (SmtpCommandException ex) when (reused && (ex.StatusCode == SmtpStatusCode.ServiceNotAvailable || client.ServiceClosing))
        {
            // 421 (to MAIL, RCPT or DATA) on a reused session: the server is closing it (its idle timeout, a
            // shutdown), not judging the message.
            return null;
        }
        catch (SmtpCommandException ex) when (ex.ErrorCode is SmtpErrorCode.SenderNotAccepted or SmtpErrorCode.MessageNotAccepted or SmtpErrorCode.RecipientNotAccepted)
        {
            // A definite answer from this host: RCPT rejections keep their own replies, the rest share this one.
            // When MAIL FROM was refused, the pipelined RCPTs only got "503 need MAIL" replies, which say nothing
            // about the recipients (and would turn a 4xx on MAIL into a bounce): the MAIL reply decides for all.
            var reply = FormatReply((int)ex.StatusCode, ex.Message);
            var outcome = (int)ex.StatusCode >= 500 ? RecipientOutcome.Permanent : RecipientOutcome.Transient;
            IReadOnlyDictionary<string, RecipientResult> rcptReplies = ex.ErrorCode == SmtpErrorCode.SenderNotAccepted ? ImmutableDictionary<string, RecipientResult>.Empty : client.Rejected;
            var error = ReplyError((int)ex.StatusCode);
            var results = work.Recipients.Select(r => rcptReplies.TryGetValue(r, out var rejected) ? rejected : new RecipientResult(r, outcome, reply, error)).ToImmutableArray();

            // MailKit sent RSET after the failed transaction, but whether the server took it is not known here;
            // a failed transaction is rare enough that a new session costs less than doubting this one.
            owned = null;
            await connection.QuitAsync(SmtpConnectionPool.QuitTimeout, timeProvider).ConfigureAwait(false);
            return new HostResult(results, null, RemoteAddress: connection.RemoteAddress, Tls: connection.TlsDescription, TransferStartedAt: transferStarted);
        }
        catch (Exception ex) when (ex is SmtpCommandException or SmtpProtocolException or IOException or SocketException or ServiceNotConnectedException
                                   || (ex is OperationCanceledException or TimeoutException && !cancellationToken.IsCancellationRequested))
        {
            // The session broke before a definite answer to DATA: nothing was delivered. A reused session gets
            // one retry on a fresh connection; a fresh one lets the next host be tried.
            if (reused && ex is not SmtpCommandException)
            {
                return null;
            }

            var failure = ex is SmtpCommandException command
                ? new HostResult(null, FormatReply((int)command.StatusCode, command.Message), Error: ReplyError((int)command.StatusCode))
                : new HostResult(null, $"451 4.4.2 session with {address}:{port} failed: {ex.Message}", Error: ex is OperationCanceledException || IsTimeout(ex) ? DeliveryError.Timeout : DeliveryError.Connect);
            return failure with { RemoteAddress = connection.RemoteAddress, Tls = connection.TlsDescription, TransferStartedAt = transferStarted };
        }
        finally
        {
            // Anything not handed back or quit above is broken or in an unknown state: drop it without QUIT.
            owned?.Dispose();
        }
    }

    internal static string FormatReply(int code, string text) => $"{code} {text}".Trim();

    [LoggerMessage(Level = LogLevel.Information, Message = "Delivery of {MessageId} via {Host} did not complete: {Reply}")]
    private partial void LogHostFailed(string messageId, string host, string reply);

    [LoggerMessage(Level = LogLevel.Information, Message = "{MessageId} has lines longer than 998 octets; the parts holding them are relayed quoted-printable")]
    private partial void LogReencoded(string messageId);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Delivery of {MessageId}: the reused connection to {Host} broke; retrying on a new connection")]
    private partial void LogReuseFailed(string messageId, string host);
}
