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
/// certificate that verifies, since the alternative is plaintext.
/// </summary>
public sealed partial class SmtpDeliveryAgent(
    MxResolver resolver,
    IOptions<DeliveryOptions> options,
    TimeProvider timeProvider,
    ILogger<SmtpDeliveryAgent> logger) : IDeliveryAgent
{
    private readonly DeliveryOptions _options = options.Value;
    private readonly string _heloName = string.IsNullOrWhiteSpace(options.Value.HeloName) ? System.Net.Dns.GetHostName() : options.Value.HeloName;

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
        using (var stream = new MemoryStream(content.ToArray(), writable: false))
        {
            message = await MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
        }

        using (message)
        {
            var lastFailure = "451 4.4.1 no destination host could be reached";
            var lastHost = string.Empty;
            foreach (var target in resolution.Targets)
            {
                foreach (var address in target.Addresses)
                {
                    lastHost = $"{target.Name}[{address}]:{target.Port}";
                    var result = await TryHostAsync(work, message, target, address, cancellationToken).ConfigureAwait(false);
                    if (result.Results is { } results)
                    {
                        return new DeliveryAttempt(lastHost, started, results);
                    }

                    lastFailure = result.Failure!;
                    LogHostFailed(work.MessageId, lastHost, lastFailure);
                }
            }

            // Nobody gave a definite answer: everyone waits for the next attempt.
            return new DeliveryAttempt(lastHost, started, [.. work.Recipients.Select(r => new RecipientResult(r, RecipientOutcome.Transient, lastFailure))]);
        }
    }

    /// <summary>Either per-recipient results (a definite answer) or a failure that lets the next host be tried.</summary>
    private readonly record struct HostResult(ImmutableArray<RecipientResult>? Results, string? Failure);

    private async Task<HostResult> TryHostAsync(DeliveryWork work, MimeMessage message, DeliveryTarget target, IPAddress address, CancellationToken cancellationToken)
    {
        using var client = new RecordingSmtpClient
        {
            LocalDomain = _heloName,
            Timeout = (int)Math.Min(int.MaxValue, _options.CommandTimeout.TotalMilliseconds),
            CheckCertificateRevocation = false,
            // Opportunistic TLS: any certificate is better than plaintext (RFC 7435); policy checks come with TLS policies.
#pragma warning disable CA5359 // Deliberate: opportunistic TLS accepts any certificate rather than fall back to plaintext.
            ServerCertificateValidationCallback = static (_, _, _, _) => true,
#pragma warning restore CA5359
        };

        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            using (var connectTimeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                connectTimeout.CancelAfter(_options.ConnectTimeout);
                await socket.ConnectAsync(new IPEndPoint(address, target.Port), connectTimeout.Token).ConfigureAwait(false);
            }

            await client.ConnectAsync(socket, target.Name, target.Port, SecureSocketOptions.StartTlsWhenAvailable, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException or OperationCanceledException or SmtpProtocolException or SmtpCommandException or SslHandshakeException
                                   && !cancellationToken.IsCancellationRequested)
        {
            socket.Dispose();
            var reply = ex is SmtpCommandException command ? FormatReply((int)command.StatusCode, command.Message) : $"451 4.4.1 connection to {address}:{target.Port} failed: {ex.Message}";
            return new HostResult(null, reply);
        }

        var sender = work.Sender.Length == 0 ? new MailboxAddress(string.Empty, string.Empty) : MailboxAddress.Parse(work.Sender);
        var recipients = work.Recipients.Select(r => new MailboxAddress(string.Empty, r)).ToList();
        try
        {
            var response = await client.SendAsync(FormatOptions.Default, message, sender, recipients, cancellationToken).ConfigureAwait(false);
            var results = work.Recipients.Select(r => client.Rejected.TryGetValue(r, out var rejected)
                    ? rejected
                    : new RecipientResult(r, RecipientOutcome.Delivered, $"250 {response}"))
                .ToImmutableArray();
            await QuitQuietlyAsync(client).ConfigureAwait(false);
            return new HostResult(results, null);
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
            await QuitQuietlyAsync(client).ConfigureAwait(false);
            return new HostResult(results, null);
        }
        catch (Exception ex) when (ex is SmtpCommandException or SmtpProtocolException or IOException or SocketException or ServiceNotConnectedException
                                   || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // The session broke before a definite answer to DATA: nothing was delivered, try the next host.
            return new HostResult(null, ex is SmtpCommandException command ? FormatReply((int)command.StatusCode, command.Message) : $"451 4.4.2 session with {address}:{target.Port} failed: {ex.Message}");
        }
    }

    private static async Task QuitQuietlyAsync(SmtpClient client)
    {
        try
        {
            await client.DisconnectAsync(quit: true, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SmtpProtocolException or SmtpCommandException or SocketException)
        {
            // The message is already accepted or refused; a failed QUIT changes nothing.
        }
    }

    internal static string FormatReply(int code, string text) => $"{code} {text}".Trim();

    [LoggerMessage(Level = LogLevel.Information, Message = "Delivery of {MessageId} via {Host} did not complete: {Reply}")]
    private partial void LogHostFailed(string messageId, string host, string reply);

    /// <summary>
    /// MailKit's client, with two changes for relaying: a rejected recipient is recorded instead of aborting the
    /// whole transaction, and content is sent as received.
    /// </summary>
    private sealed class RecordingSmtpClient : SmtpClient
    {
        /// <summary>
        /// A relay must not change the content it forwards (RFC 5321 §2.3.10 allows trace fields only), and a
        /// rewritten header breaks the DKIM signatures covering it. MimeKit's preparation adds headers and
        /// re-encodes parts, so it runs only when the destination lacks 8BITMIME, where 8-bit content must be
        /// converted rather than sent raw (RFC 6152 §3).
        /// </summary>
        protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength)
        {
            if (constraint == EncodingConstraint.SevenBit)
            {
                base.Prepare(options, message, constraint, maxLineLength);
            }
        }

        public Dictionary<string, RecipientResult> Rejected { get; } = new(StringComparer.OrdinalIgnoreCase);

        protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
        {
            var code = (int)response.StatusCode;
            Rejected[mailbox.Address] = new RecipientResult(
                mailbox.Address,
                code >= 500 ? RecipientOutcome.Permanent : RecipientOutcome.Transient,
                FormatReply(code, response.Response));
        }
    }
}
