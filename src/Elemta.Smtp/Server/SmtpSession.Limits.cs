using System.IO.Pipelines;
using System.Net;
using Microsoft.Extensions.Logging;

namespace Elemta.Smtp.Server;

/// <summary>Per-session limits: the pre-greeting pause (early-talker check), messages per connection, total session time.</summary>
internal sealed partial class SmtpSession
{
    /// <summary>Messages accepted (answered 250) in this session, for <see cref="SmtpServerOptions.MaxMessagesPerConnection"/>.</summary>
    private int _messagesAccepted;

    /// <summary>
    /// Waits <see cref="SmtpServerOptions.GreetingDelay"/> before the greeting, reading meanwhile. RFC 5321 §4.3.1
    /// has the client wait for the 220; one that sends first is a spam engine that does not read replies (the
    /// check Postfix's postscreen calls the pregreet test). Returns true when the client stayed quiet; otherwise
    /// answers <c>554 5.5.0</c> (unless it already hung up) and returns false, and the session closes.
    /// </summary>
    /// <remarks>
    /// The wait is a read that is expected to time out: the timer cancels the pending read
    /// (<see cref="PipeReader.CancelPendingRead"/>), which returns without an exception and leaves the reader usable.
    /// </remarks>
    private async Task<bool> ClientWaitsForGreetingAsync()
    {
        var delay = Options.GreetingDelay;
        if (delay <= TimeSpan.Zero)
        {
            return true;
        }

        ReadResult read;
        var input = _input;
        using (_server.TimeProvider.CreateTimer(static state => ((PipeReader)state!).CancelPendingRead(), input, delay, Timeout.InfiniteTimeSpan))
        {
            read = await input.ReadAsync(_sessionToken).ConfigureAwait(false);
        }

        var early = read.Buffer.Length;
        input.AdvanceTo(read.Buffer.End);
        if (read.IsCanceled && early == 0)
        {
            return true;
        }

        // Were the timer to fire now, it would cancel a read that never comes: the session ends here either way.
        if (early > 0)
        {
            LogEarlyTalker(_remote, early);
            Reply(554, "5.5.0", $"{_server.HostName} protocol error: client talks before greeting");
        }

        return false;
    }

    /// <summary>
    /// RFC 5321 §4.5.3.2 allows ending a session for resource reasons; <c>421</c> tells the client to reconnect for
    /// the rest (RFC 5321 §3.8). Returns true, with the 421 written and the session set to close, when this
    /// session has reached <see cref="SmtpServerOptions.MaxMessagesPerConnection"/>.
    /// </summary>
    private bool MessageLimitReached()
    {
        if (_messagesAccepted < Options.MaxMessagesPerConnection)
        {
            return false;
        }

        LogMessageLimit(_remote, _messagesAccepted);
        Reply(421, "4.7.0", $"{_server.HostName} too many messages in one connection, reconnect to send more");
        _quit = true;
        return true;
    }

    /// <summary>The session deadline (<see cref="SmtpServerOptions.SessionTimeout"/>) on the server's clock.</summary>
    private static CancellationTokenSource StartSessionClock(SmtpServerContext server) =>
        new(server.Options.SessionTimeout, server.TimeProvider);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Client} sent {Octets} octets before the greeting; answered 554")]
    private partial void LogEarlyTalker(IPEndPoint client, long octets);

    [LoggerMessage(Level = LogLevel.Information, Message = "{Client} reached the limit of {Count} messages per connection; answered 421")]
    private partial void LogMessageLimit(IPEndPoint client, int count);
}
