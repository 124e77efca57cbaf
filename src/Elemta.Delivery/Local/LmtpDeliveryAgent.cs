using System.Net;
using System.Net.Sockets;
using System.Text;
using Elemta.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Local;

/// <summary>
/// Hands local mail to an LMTP server (RFC 2033) such as Dovecot's or Cyrus': LHLO, MAIL, one RCPT per recipient,
/// DATA, then one reply per accepted recipient, so each recipient gets the mailbox server's own verdict. Commands
/// are pipelined when the server offers PIPELINING (RFC 2033 requires it). One connection per attempt: local
/// servers are close and cheap to reach.
/// </summary>
public sealed partial class LmtpDeliveryAgent : IDeliveryAgent
{
    /// <summary>How long QUIT may take; the transaction is over by then, so a slow goodbye must not hold the attempt.</summary>
    internal static readonly TimeSpan QuitTimeout = TimeSpan.FromSeconds(5);

    private readonly LocalDeliveryOptions _options;
    private readonly string _lhloName;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<LmtpDeliveryAgent> _logger;

    /// <summary>Creates the agent for the LMTP domains of <paramref name="options"/>; LHLO uses <see cref="DeliveryOptions.HeloName"/>.</summary>
    public LmtpDeliveryAgent(IOptions<LocalDeliveryOptions> options, IOptions<DeliveryOptions> delivery, TimeProvider timeProvider, ILogger<LmtpDeliveryAgent> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(delivery);
        _options = options.Value;
        _lhloName = string.IsNullOrWhiteSpace(delivery.Value.HeloName) ? System.Net.Dns.GetHostName() : delivery.Value.HeloName;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <inheritdoc />
    public async Task<DeliveryAttempt> DeliverAsync(DeliveryWork work, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var started = _timeProvider.GetUtcNow();
        var timestamp = _timeProvider.GetTimestamp();
        var local = _options.Find(work.Domain);
        if (local is null || local.ParsedTransport != LocalTransport.Lmtp || !LmtpEndpoint.TryParse(local.LmtpEndpoint, out var endpoint, out _))
        {
            var reply = $"451 4.3.5 {work.Domain} is not configured for LMTP delivery";
            return new DeliveryAttempt(string.Empty, started, [.. work.Recipients.Select(r => new RecipientResult(r, RecipientOutcome.Transient, reply, DeliveryError.Local))],
                Duration: _timeProvider.GetElapsedTime(timestamp));
        }

        // Filled as the server answers; whatever is still open when the session breaks is retried.
        var results = new RecipientResult?[work.Recipients.Length];
        string? remoteAddress = null;
        LmtpSession? session = null;
        try
        {
            using var socket = await ConnectAsync(endpoint!, local.LmtpConnectTimeout, cancellationToken).ConfigureAwait(false);
            remoteAddress = endpoint!.SocketPath ?? socket.RemoteEndPoint?.ToString();
            await using var stream = new NetworkStream(socket, ownsSocket: false);
            session = new LmtpSession(stream, local.LmtpCommandTimeout, _timeProvider);
            await RunTransactionAsync(session, work, content, results, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SocketException or IOException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            // Nothing the server said decided the open recipients: a refused or broken connection, or a timeout.
            var reply = remoteAddress is null
                ? $"451 4.4.1 LMTP connection to {endpoint} failed: {Describe(ex)}"
                : $"451 4.4.2 LMTP session with {endpoint} broke: {Describe(ex)}";
            var error = ex is LmtpTimeoutException or OperationCanceledException ? DeliveryError.Timeout : DeliveryError.Connect;
            LogSessionFailed(work.MessageId, endpoint!.ToString(), reply);
            for (var i = 0; i < results.Length; i++)
            {
                results[i] ??= new RecipientResult(work.Recipients[i], RecipientOutcome.Transient, reply, error);
            }
        }

        // Setup (connect, greeting, LHLO) ends where MAIL FROM is sent; without it, the whole attempt was setup.
        var duration = _timeProvider.GetElapsedTime(timestamp);
        var setup = session?.TransferStartedAt is { } transfer ? transfer - started : duration;
        return new DeliveryAttempt(endpoint!.ToString(), started, [.. results.Select(r => r!)], remoteAddress,
            Tls: remoteAddress is null ? null : "none", Duration: duration, Setup: setup < duration ? setup : duration);
    }

    private async Task<Socket> ConnectAsync(LmtpEndpoint endpoint, TimeSpan connectTimeout, CancellationToken cancellationToken)
    {
        var target = endpoint.ToEndPoint();
        var socket = target switch
        {
            UnixDomainSocketEndPoint => new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified),
            IPEndPoint ip => new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true },
            // A host name: a dual-stack socket tries each address the name resolves to.
            _ => new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true },
        };
        try
        {
            using var timeout = new CancellationTokenSource(connectTimeout, _timeProvider);
            using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
            await socket.ConnectAsync(target ?? new DnsEndPoint(endpoint.Host!, endpoint.Port), linked.Token).ConfigureAwait(false);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task RunTransactionAsync(LmtpSession session, DeliveryWork work, ReadOnlyMemory<byte> content, RecipientResult?[] results, CancellationToken cancellationToken)
    {
        var greeting = await session.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        if (greeting.Code != 220)
        {
            SetOpen(results, work, greeting, "greeting");
            return;
        }

        await session.WriteCommandsAsync([$"LHLO {_lhloName}"], cancellationToken).ConfigureAwait(false);
        var lhlo = await session.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        if (!lhlo.IsPositive)
        {
            // Typically a plain SMTP server behind the configured endpoint: a configuration error, not a verdict on the mail.
            SetOpen(results, work, lhlo, "LHLO");
            await QuitAsync(session, cancellationToken).ConfigureAwait(false);
            return;
        }

        var extensions = LmtpSession.Extensions(lhlo);
        var mail = new StringBuilder($"MAIL FROM:<{work.Sender}>");
        if (extensions.Contains("8BITMIME") && content.Span.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0)
        {
            mail.Append(" BODY=8BITMIME");
        }

        if (extensions.Contains("SMTPUTF8") && !(Ascii.IsValid(work.Sender) && work.Recipients.All(r => Ascii.IsValid(r))))
        {
            mail.Append(" SMTPUTF8");
        }

        var rcpts = work.Recipients.Select(r => $"RCPT TO:<{r}>").ToArray();
        session.TransferStartedAt = _timeProvider.GetUtcNow();
        LmtpReply mailReply;
        var rcptReplies = new LmtpReply[rcpts.Length];
        LmtpReply? dataReply = null;
        if (extensions.Contains("PIPELINING"))
        {
            // RFC 2920: MAIL, every RCPT and DATA in one write; the replies come back in order.
            await session.WriteCommandsAsync([mail.ToString(), .. rcpts, "DATA"], cancellationToken).ConfigureAwait(false);
            mailReply = await session.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            for (var i = 0; i < rcpts.Length; i++)
            {
                rcptReplies[i] = await session.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            }

            dataReply = await session.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
        }
        else
        {
            await session.WriteCommandsAsync([mail.ToString()], cancellationToken).ConfigureAwait(false);
            mailReply = await session.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
            if (mailReply.IsPositive)
            {
                for (var i = 0; i < rcpts.Length; i++)
                {
                    await session.WriteCommandsAsync([rcpts[i]], cancellationToken).ConfigureAwait(false);
                    rcptReplies[i] = await session.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
                }

                if (rcptReplies.Any(r => r.IsPositive))
                {
                    await session.WriteCommandsAsync(["DATA"], cancellationToken).ConfigureAwait(false);
                    dataReply = await session.ReadReplyAsync(cancellationToken).ConfigureAwait(false);
                }
            }
        }

        if (!mailReply.IsPositive)
        {
            // The RCPT replies after a refused MAIL are only "need MAIL" errors: the MAIL reply decides for everyone.
            SetOpen(results, work, mailReply, null);
            await QuitAsync(session, cancellationToken).ConfigureAwait(false);
            return;
        }

        var accepted = new List<int>();
        for (var i = 0; i < rcpts.Length; i++)
        {
            if (rcptReplies[i].IsPositive)
            {
                accepted.Add(i);
            }
            else
            {
                results[i] = FromReply(work.Recipients[i], rcptReplies[i]);
            }
        }

        if (accepted.Count == 0)
        {
            if (dataReply is { Code: 354 })
            {
                // A server that opened DATA without recipients is confused; ending the connection is the only clean way out.
                return;
            }

            await QuitAsync(session, cancellationToken).ConfigureAwait(false);
            return;
        }

        if (dataReply is not { Code: 354 })
        {
            foreach (var i in accepted)
            {
                results[i] = FromReply(work.Recipients[i], dataReply!.Value, DeliveryError.TemporaryReply);
            }

            await QuitAsync(session, cancellationToken).ConfigureAwait(false);
            return;
        }

        await session.WriteDataAsync(content, cancellationToken).ConfigureAwait(false);
        // RFC 2033 §4.2: one reply per accepted recipient, in RCPT order. Each is final for its recipient as it arrives.
        foreach (var i in accepted)
        {
            results[i] = FromReply(work.Recipients[i], await session.ReadReplyAsync(cancellationToken).ConfigureAwait(false));
        }

        await QuitAsync(session, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>A reply that decides for every recipient not yet decided; the stage names replies that are not about the mail.</summary>
    private static void SetOpen(RecipientResult?[] results, DeliveryWork work, LmtpReply reply, string? stage)
    {
        for (var i = 0; i < results.Length; i++)
        {
            if (results[i] is not null)
            {
                continue;
            }

            results[i] = stage is null
                ? FromReply(work.Recipients[i], reply)
                // A refused greeting or LHLO says the endpoint is wrong or unwell, not that the mail is bad: retry.
                : new RecipientResult(work.Recipients[i], RecipientOutcome.Transient, $"451 4.4.0 LMTP server refused {stage}: {reply}",
                    reply.IsPermanent ? DeliveryError.Local : DeliveryError.TemporaryReply);
        }
    }

    /// <summary>2xx delivered, 5xx permanent, anything else (4xx, or a code that makes no sense there) transient.</summary>
    private static RecipientResult FromReply(string recipient, LmtpReply reply, DeliveryError transientError = DeliveryError.TemporaryReply) =>
        reply.IsPositive ? new RecipientResult(recipient, RecipientOutcome.Delivered, reply.ToString())
        : reply.IsPermanent ? new RecipientResult(recipient, RecipientOutcome.Permanent, reply.ToString(), DeliveryError.PermanentReply)
        : new RecipientResult(recipient, RecipientOutcome.Transient, reply.ToString(), transientError);

    /// <summary>Says goodbye; the outcome is already known, so any failure here is ignored.</summary>
    private async Task QuitAsync(LmtpSession session, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(QuitTimeout, _timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await session.WriteCommandsAsync(["QUIT"], linked.Token).ConfigureAwait(false);
            await session.ReadReplyAsync(linked.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or SocketException || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            LogQuitFailed(ex.Message);
        }
    }

    private static string Describe(Exception ex) => ex is OperationCanceledException ? "timed out" : ex.Message;

    [LoggerMessage(Level = LogLevel.Information, Message = "LMTP delivery of {MessageId} via {Endpoint} did not complete: {Reply}")]
    private partial void LogSessionFailed(string messageId, string endpoint, string reply);

    [LoggerMessage(Level = LogLevel.Debug, Message = "LMTP QUIT failed after the transaction: {Reason}")]
    private partial void LogQuitFailed(string reason);
}
