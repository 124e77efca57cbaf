using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using Elemta.Contracts;
using Elemta.Delivery.Dns;
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
    ILogger<SmtpDeliveryAgent> logger) : IDeliveryAgent, IAsyncDisposable, IDisposable
{
    private readonly DeliveryOptions _options = options.Value;
    private readonly string _heloName = string.IsNullOrWhiteSpace(options.Value.HeloName) ? System.Net.Dns.GetHostName() : options.Value.HeloName;
    private readonly SmtpConnectionPool _pool = new(options.Value, timeProvider);

    /// <summary>The connection pool, for tests.</summary>
    internal SmtpConnectionPool Pool => _pool;

    /// <inheritdoc />
    public async Task<DeliveryAttempt> DeliverAsync(DeliveryWork work, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var started = timeProvider.GetUtcNow();
        var resolution = await resolver.ResolveAsync(work.Domain, cancellationToken).ConfigureAwait(false);
        if (resolution.Failure is not null)
        {
            var outcome = resolution.FailureIsPermanent ? RecipientOutcome.Permanent : RecipientOutcome.Transient;
            return new DeliveryAttempt(string.Empty, started, [.. work.Recipients.Select(r => new RecipientResult(r, outcome, resolution.Failure))]);
        }

        MimeMessage message;
        // The stored content is already an array: read it in place rather than copy the whole message again.
        var bytes = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(content, out var segment)
            ? segment
            : new ArraySegment<byte>(content.ToArray());
        using (var stream = new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false))
        {
            message = await MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
        }

        using (message)
        {
            var lastFailure = "451 4.4.1 no destination host could be reached";
            var lastHost = string.Empty;
            // RFC 8689 §5: when every host failed the REQUIRETLS conditions, the message is returned, not retried.
            var onlyTlsPolicyFailures = work.RequireTls;
            foreach (var target in resolution.Targets)
            {
                foreach (var address in target.Addresses)
                {
                    var destination = new SmtpDestination(target.Name, address, target.Port);
                    lastHost = destination.ToString();
                    var result = await TryHostAsync(work, message, destination, cancellationToken).ConfigureAwait(false);
                    if (result.Results is { } results)
                    {
                        return new DeliveryAttempt(lastHost, started, results);
                    }

                    lastFailure = result.Failure!;
                    onlyTlsPolicyFailures &= result.TlsPolicyFailure;
                    LogHostFailed(work.MessageId, lastHost, lastFailure);
                }
            }

            // Nobody gave a definite answer: everyone waits for the next attempt, unless no host can ever meet REQUIRETLS.
            var outcome = onlyTlsPolicyFailures && lastHost.Length > 0 ? RecipientOutcome.Permanent : RecipientOutcome.Transient;
            return new DeliveryAttempt(lastHost, started, [.. work.Recipients.Select(r => new RecipientResult(r, outcome, lastFailure))]);
        }
    }

    /// <summary>Sends QUIT on every idle pooled connection and waits for the replies.</summary>
    public ValueTask DisposeAsync() => _pool.DisposeAsync();

    /// <summary>Like <see cref="DisposeAsync"/>, for containers that dispose synchronously.</summary>
    public void Dispose() => _pool.Dispose();

    /// <summary>Either per-recipient results (a definite answer) or a failure that lets the next host be tried.</summary>
    private readonly record struct HostResult(ImmutableArray<RecipientResult>? Results, string? Failure, bool TlsPolicyFailure = false);

    private async Task<HostResult> TryHostAsync(DeliveryWork work, MimeMessage message, SmtpDestination destination, CancellationToken cancellationToken)
    {
        // A REQUIRETLS message never rides on a pooled session, which may have been opened with opportunistic TLS.
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

        var (connection, failure, tlsPolicyFailure) = await ConnectAsync(destination, work.RequireTls, cancellationToken).ConfigureAwait(false);
        if (connection is null)
        {
            return new HostResult(null, failure, tlsPolicyFailure);
        }

        return (await SendAsync(work, message, connection, reused: false, cancellationToken).ConfigureAwait(false))!.Value;
    }

    /// <summary>
    /// Opens a session: TCP connect, greeting, EHLO, STARTTLS when offered (required, with a verified certificate and
    /// the REQUIRETLS extension, when <paramref name="requireTls"/>). Either a connection or a failure reply; the flag
    /// says the failure was the REQUIRETLS conditions rather than the network.
    /// </summary>
    private async Task<(SmtpConnection? Connection, string? Failure, bool TlsPolicyFailure)> ConnectAsync(SmtpDestination destination, bool requireTls, CancellationToken cancellationToken)
    {
        var client = new RecordingSmtpClient
        {
            LocalDomain = _heloName,
            Timeout = (int)Math.Min(int.MaxValue, _options.CommandTimeout.TotalMilliseconds),
            CheckCertificateRevocation = false,
            RequireTLS = requireTls,
        };
        if (!requireTls)
        {
            // Opportunistic TLS: any certificate is better than plaintext (RFC 7435). REQUIRETLS keeps MailKit's
            // default validation: a trusted chain for the MX host name.
#pragma warning disable CA5359 // Deliberate: opportunistic TLS accepts any certificate rather than fall back to plaintext.
            client.ServerCertificateValidationCallback = static (_, _, _, _) => true;
#pragma warning restore CA5359
        }

        var address = destination.Address;
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectTimeout.CancelAfter(_options.ConnectTimeout);
                await socket.ConnectAsync(new IPEndPoint(address, destination.Port), connectTimeout.Token).ConfigureAwait(false);
            }

            await client.ConnectAsync(socket, destination.Host, destination.Port, requireTls ? SecureSocketOptions.StartTls : SecureSocketOptions.StartTlsWhenAvailable, cancellationToken).ConfigureAwait(false);
            if (requireTls && !client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS))
            {
                await client.DisconnectAsync(quit: true, CancellationToken.None).ConfigureAwait(false);
                client.Dispose();
                socket.Dispose();
                return (null, $"550 5.7.30 REQUIRETLS support required: {destination.Host} does not offer REQUIRETLS", true);
            }

            return (new SmtpConnection(destination, client, socket), null, false);
        }
        catch (Exception ex) when (requireTls && ex is NotSupportedException or SslHandshakeException && !cancellationToken.IsCancellationRequested)
        {
            // No STARTTLS, or a certificate that does not verify: this host can never take a REQUIRETLS message.
            client.Dispose();
            socket.Dispose();
            return (null, $"550 5.7.10 REQUIRETLS: no verified TLS with {destination.Host}: {ex.Message}", true);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or SmtpProtocolException or SmtpCommandException or SslHandshakeException
                                   && !cancellationToken.IsCancellationRequested)
        {
            client.Dispose();
            socket.Dispose();
            var reply = ex is SmtpCommandException command ? FormatReply((int)command.StatusCode, command.Message) : $"451 4.4.1 connection to {address}:{destination.Port} failed: {ex.Message}";
            return (null, reply, false);
        }
        catch
        {
            client.Dispose();
            socket.Dispose();
            throw;
        }
    }

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
            return new HostResult(results, null);
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
            var results = work.Recipients.Select(r => rcptReplies.TryGetValue(r, out var rejected) ? rejected : new RecipientResult(r, outcome, reply)).ToImmutableArray();

            // MailKit sent RSET after the failed transaction, but whether the server took it is not known here;
            // a failed transaction is rare enough that a new session costs less than doubting this one.
            owned = null;
            await connection.QuitAsync(SmtpConnectionPool.QuitTimeout, timeProvider).ConfigureAwait(false);
            return new HostResult(results, null);
        }
        catch (Exception ex) when (ex is SmtpCommandException or SmtpProtocolException or IOException or SocketException or ServiceNotConnectedException
                                   || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // The session broke before a definite answer to DATA: nothing was delivered. A reused session gets
            // one retry on a fresh connection; a fresh one lets the next host be tried.
            if (reused && ex is not SmtpCommandException)
            {
                return null;
            }

            return new HostResult(null, ex is SmtpCommandException command ? FormatReply((int)command.StatusCode, command.Message) : $"451 4.4.2 session with {address}:{port} failed: {ex.Message}");
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

    [LoggerMessage(Level = LogLevel.Debug, Message = "Delivery of {MessageId}: the reused connection to {Host} broke; retrying on a new connection")]
    private partial void LogReuseFailed(string messageId, string host);
}
