using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp;

/// <summary>
/// Accepts a message the way every front-end does: envelope, content and queue rows into the message store in one
/// group commit (the durable point), then the <see cref="IMessageGrain"/>, which takes charge of it and wakes its
/// domain queues. Only grain calls cross to the silo, so the front-end runs co-hosted or as a separate Orleans
/// client alike.
/// </summary>
/// <remarks>
/// <para>The delivery priority is set here, by <see cref="PriorityRulesOptions"/>, before the queue rows are written.</para>
/// <para>Only the commit can fail the acceptance. Once it has returned, the message is queued: answering 4xx then
/// would make the client send again a message that will be delivered anyway (a duplicate per failed wake-up, 4.6 %
/// of the mail in a silo-kill test). The grain call after the commit is an optimisation — it starts delivery at
/// once instead of at the next queue sweep — so a failure is logged and left to the sweep, which wakes every domain
/// with due rows, whose queue rebuilds the message grain from the store.</para>
/// <para>The call is awaited, not fired and forgotten, but only for <see cref="SmtpServerOptions.WakeTimeout"/>:
/// awaited, because normally it takes a millisecond and each session then has at most one wake-up outstanding
/// (fire-and-forget lets a fast client pile up calls to a silo that is dying); bounded, because while a dead
/// silo is not yet declared dead a call to a grain it hosted waits up to Orleans' response timeout (30 s), and the
/// client is waiting for its 250 meanwhile.</para>
/// </remarks>
public sealed partial class GrainMessageAcceptor(
    IMessageStore messages,
    IGrainFactory grains,
    IOptions<PriorityRulesOptions> priorities,
    IOptions<SmtpServerOptions> options,
    TimeProvider timeProvider,
    ILogger<GrainMessageAcceptor> logger) : IMessageAcceptor
{
    /// <inheritdoc />
    public async Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        if (priorities.Value.PriorityRules.Count > 0)
        {
            envelope = envelope with { Priority = priorities.Value.PriorityOf(envelope) };
        }

        // The durable point: an exception here is the only one the session turns into a 4xx.
        await messages.AcceptAsync(envelope, content, cancellationToken).ConfigureAwait(false);
        await WakeAsync(envelope).ConfigureAwait(false);
    }

    /// <summary>Hands the committed message to its grain, within the wake timeout; never throws.</summary>
    private async Task WakeAsync(MessageEnvelope envelope)
    {
        Task call;
        try
        {
            call = grains.GetCachedGrain<IMessageGrain>(envelope.MessageId).AcceptAsync(envelope);
        }
        catch (Exception ex)
        {
            LogWakeFailed(envelope.MessageId, ex);
            return;
        }

        var timeout = options.Value.WakeTimeout;
        if (timeout == TimeSpan.Zero)
        {
            _ = call.ContinueWith(
                static (t, state) => ((State)state!).Acceptor.LogWakeFailed(((State)state!).MessageId, t.Exception!),
                new State(this, envelope.MessageId),
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            return;
        }

        try
        {
            // Not the caller's token: the message is committed, so cancelling now would only turn a queued message
            // into a failure report.
            await call.WaitAsync(timeout, timeProvider).ConfigureAwait(false);
        }
        catch (TimeoutException) when (!call.IsCompleted)
        {
            // The call goes on to Orleans' own response timeout; its outcome is observed so that a late failure is not
            // an unobserved task exception, and logged at debug level only, as the warning was given already.
            _ = call.ContinueWith(
                static (t, state) => ((GrainMessageAcceptor)state!).LogLateWakeFailed(t.Exception!),
                this,
                CancellationToken.None,
                TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously,
                TaskScheduler.Default);
            LogWakeTimedOut(envelope.MessageId, timeout);
        }
        catch (Exception ex)
        {
            LogWakeFailed(envelope.MessageId, ex);
        }
    }

    private sealed record State(GrainMessageAcceptor Acceptor, string MessageId);

    [LoggerMessage(EventId = 1101, Level = LogLevel.Warning, Message = "{MessageId} is committed, but waking its message grain failed; the queue sweep will deliver it")]
    private partial void LogWakeFailed(string messageId, Exception exception);

    [LoggerMessage(EventId = 1102, Level = LogLevel.Warning, Message = "{MessageId} is committed, but its message grain did not answer within {Timeout}; answered 250, the queue sweep will deliver it")]
    private partial void LogWakeTimedOut(string messageId, TimeSpan timeout);

    [LoggerMessage(EventId = 1103, Level = LogLevel.Debug, Message = "A message grain wake-up that had timed out failed later")]
    private partial void LogLateWakeFailed(Exception exception);
}
