using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;

namespace Elemta.Bench.Load;

/// <summary>
/// Sends <see cref="LoadOptions.Messages"/> messages over <see cref="LoadOptions.Sessions"/> concurrent SMTP sessions
/// and measures throughput and the latency from the end of DATA to its 250 reply.
/// </summary>
/// <remarks>
/// <para>
/// Commands go one at a time (no PIPELINING), as smtp-source sends them, so the latency of each reply is the server's
/// alone. A refused command ends its message's transaction with RSET; a 421 reply, a broken connection or a timeout
/// ends the connection, and the session continues with the next message on a new one. Messages are never retried.
/// </para>
/// <para>
/// The hot path arms no timer and registers no cancellation: one watchdog closes the socket of a session whose last
/// reply is older than <see cref="LoadOptions.ReplyTimeout"/>, and cancelling the run closes every session's socket.
/// </para>
/// </remarks>
public sealed class LoadGenerator
{
    private const int ListedErrors = 10;

    private readonly LoadOptions _options;
    private readonly TimeProvider _time;
    private readonly Lock _errorGate = new();
    private readonly List<string> _firstErrors = [];
    private long[] _latencies = [];
    private int _nextMessage;
    private int _errors;

    /// <summary>Prepares a run: the message buffers are built here, before any connection.</summary>
    public LoadGenerator(LoadOptions options, TimeProvider? timeProvider = null)
    {
        _options = options ?? throw new ArgumentNullException(nameof(options));
        _time = timeProvider ?? TimeProvider.System;
        Template = new MessageTemplate(options, _time);
    }

    /// <summary>The commands and content every session sends.</summary>
    public MessageTemplate Template { get; }

    /// <summary>Runs the sessions to completion and summarises what happened.</summary>
    public async Task<LoadResult> RunAsync(CancellationToken cancellationToken)
    {
        var endPoint = await ResolveAsync(cancellationToken);
        _latencies = new long[_options.Messages];
        Array.Fill(_latencies, -1);
        _nextMessage = -1;
        _errors = 0;
        _firstErrors.Clear();

        var sessions = new Session[_options.Sessions];
        for (var i = 0; i < sessions.Length; i++)
        {
            sessions[i] = new Session(Template.NewWireBuffer());
        }

        using var stopped = cancellationToken.Register(() => Array.ForEach(sessions, s => s.Abort()));
        using var finished = new CancellationTokenSource();
        var watchdog = WatchAsync(sessions, finished.Token);

        var started = _time.GetTimestamp();
        var runs = new Task<long>[sessions.Length];
        for (var i = 0; i < sessions.Length; i++)
        {
            runs[i] = RunSessionAsync(sessions[i], endPoint, cancellationToken);
        }

        var lastAccepted = (await Task.WhenAll(runs)).Max();
        var ended = _time.GetTimestamp();
        await finished.CancelAsync();
        await watchdog;
        return LoadResult.From(
            _options.Messages,
            _latencies,
            _time.TimestampFrequency,
            _errors,
            _firstErrors.ToArray(),
            _time.GetElapsedTime(started, lastAccepted > 0 ? lastAccepted : ended));
    }

    private async Task<IPEndPoint> ResolveAsync(CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(_options.Host, out var address))
        {
            return new IPEndPoint(address, _options.Port);
        }

        var addresses = await Dns.GetHostAddressesAsync(_options.Host, cancellationToken);
        return addresses.Length > 0
            ? new IPEndPoint(addresses[0], _options.Port)
            : throw new SocketException((int)SocketError.HostNotFound);
    }

    // Closes the connection of any session that has waited longer than the reply timeout; its pending receive then
    // fails and the session records the timeout.
    private async Task WatchAsync(Session[] sessions, CancellationToken finished)
    {
        var timeout = _options.ReplyTimeout;
        using var timer = new PeriodicTimer(TimeSpan.FromTicks(Math.Min(timeout.Ticks / 4, TimeSpan.TicksPerSecond)), _time);
        try
        {
            while (await timer.WaitForNextTickAsync(finished))
            {
                var now = _time.GetTimestamp();
                foreach (var session in sessions)
                {
                    if (_time.GetElapsedTime(Volatile.Read(ref session.LastActivity), now) > timeout)
                    {
                        session.TimeOut();
                    }
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The run is over.
        }
    }

    // One session: connections one after another until the shared message count is used up. Returns the timestamp of
    // its last 250 to end-of-data (0 if none).
    private async Task<long> RunSessionAsync(Session session, IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        await Task.Yield();
        long lastAccepted = 0;
        int message;
        while (!cancellationToken.IsCancellationRequested
               && (message = Interlocked.Increment(ref _nextMessage)) < _options.Messages)
        {
            var socket = session.Open(endPoint.AddressFamily, _time.GetTimestamp());
            try
            {
                session.Step = "connect";
                await socket.ConnectAsync(endPoint, cancellationToken);
                session.Step = "greeting";
                await ExpectAsync(session, 2);
                session.Step = "EHLO";
                await SendAsync(socket, Template.Ehlo);
                await ExpectAsync(session, 2);

                for (var sent = 1; ; sent++)
                {
                    Template.WriteMessageNumber(session.Wire, message);
                    session.Message = message;
                    var accepted = await SendMessageAsync(session);
                    session.Message = -1;
                    if (accepted > 0)
                    {
                        lastAccepted = accepted;
                    }

                    if (sent == _options.MessagesPerConnection
                        || (message = Interlocked.Increment(ref _nextMessage)) >= _options.Messages)
                    {
                        break;
                    }
                }

                session.Step = "QUIT";
                await SendAsync(socket, MessageTemplate.Quit);
                await ExpectAsync(session, 2);
            }
            catch (SmtpReplyException ex)
            {
                RecordError(session, ex.Message);
            }
            catch (Exception ex) when (ex is SocketException or IOException or ObjectDisposedException or OperationCanceledException)
            {
                // Stopped from outside (Ctrl+C) is not an error: the run reports what it measured so far.
                if (!cancellationToken.IsCancellationRequested)
                {
                    RecordError(session, session.TimedOut ? $"no reply within {_options.ReplyTimeout.TotalSeconds:0.#} s" : ex.Message);
                }
            }
            finally
            {
                session.Close();
            }
        }

        return lastAccepted;
    }

    // One transaction (its async state is pooled, as are the per-command helpers': nothing per message for the GC).
    // Returns the timestamp of the 250 to end-of-data, or 0 when the server refused a command (the
    // error is recorded and the transaction reset). Throws when the connection cannot go on.
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    private async ValueTask<long> SendMessageAsync(Session session)
    {
        var socket = session.Socket!;
        try
        {
            session.Step = "MAIL FROM";
            await SendAsync(socket, Template.MailFrom);
            await ExpectAsync(session, 2);
            session.Step = "RCPT TO";
            var recipients = Template.RcptTo;
            for (var i = 0; i < recipients.Count; i++)
            {
                await SendAsync(socket, recipients[i]);
                await ExpectAsync(session, 2);
            }

            session.Step = "DATA";
            await SendAsync(socket, MessageTemplate.Data);
            await ExpectAsync(session, 3);
            session.Step = "end of data";
            await SendAsync(socket, session.Wire);
            var endOfData = _time.GetTimestamp();
            await ExpectAsync(session, 2);
            var accepted = Volatile.Read(ref session.LastActivity);
            _latencies[session.Message] = accepted - endOfData;
            return accepted;
        }
        catch (SmtpReplyException ex) when (ex.Code != 421)
        {
            // 421 closes the connection (RFC 5321 section 3.8); any other refusal only ends this transaction.
            RecordError(session, ex.Message);
        }

        session.Message = -1;
        session.Step = "RSET after a refused command";
        await SendAsync(socket, MessageTemplate.Rset);
        await ExpectAsync(session, 2);
        return 0;
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ExpectAsync(Session session, int expectedClass)
    {
        var code = await session.Replies.ReadReplyAsync(CancellationToken.None);
        Volatile.Write(ref session.LastActivity, _time.GetTimestamp());
        if (code / 100 != expectedClass)
        {
            throw new SmtpReplyException(code, session.Replies.LastReply);
        }
    }

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private static async ValueTask SendAsync(Socket socket, ReadOnlyMemory<byte> bytes)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await socket.SendAsync(bytes, SocketFlags.None);
            bytes = bytes[sent..];
        }
    }

    private void RecordError(Session session, string description)
    {
        Interlocked.Increment(ref _errors);
        lock (_errorGate)
        {
            if (_firstErrors.Count < ListedErrors)
            {
                _firstErrors.Add(session.Message >= 0
                    ? $"message {session.Message}, {session.Step}: {description}"
                    : $"{session.Step}: {description}");
            }
        }
    }

    // What one session reuses from connection to connection (its numbered copy of the content, the reply buffer),
    // where it is (for error reports) and its current socket (for the watchdog and for cancellation).
    private sealed class Session(byte[] wire)
    {
        public readonly byte[] Wire = wire;
        public readonly SmtpReplyReader Replies = new();
        public string Step = "";
        public int Message = -1;
        public long LastActivity = long.MaxValue;
        public volatile bool TimedOut;
        private readonly Lock _gate = new();
        private Socket? _socket;

        public Socket? Socket => _socket;

        public Socket Open(AddressFamily family, long now)
        {
            var socket = new Socket(family, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            Replies.Reset(socket);
            Message = -1;
            TimedOut = false;
            Volatile.Write(ref LastActivity, now);
            lock (_gate)
            {
                _socket = socket;
            }

            return socket;
        }

        public void Close()
        {
            Socket? socket;
            lock (_gate)
            {
                socket = _socket;
                _socket = null;
                Volatile.Write(ref LastActivity, long.MaxValue);
            }

            socket?.Dispose();
        }

        public void TimeOut()
        {
            TimedOut = true;
            Abort();
        }

        public void Abort()
        {
            lock (_gate)
            {
                _socket?.Dispose();
            }
        }
    }

    private sealed class SmtpReplyException(int code, string reply) : Exception(reply)
    {
        public int Code { get; } = code;
    }
}
