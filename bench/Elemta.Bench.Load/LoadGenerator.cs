using System.Net;
using System.Net.Sockets;

namespace Elemta.Bench.Load;

/// <summary>
/// Sends <see cref="LoadOptions.Messages"/> messages over <see cref="LoadOptions.Sessions"/> concurrent SMTP sessions
/// and measures throughput and the latency from the end of DATA to its 250 reply.
/// </summary>
/// <remarks>
/// Commands go one at a time (no PIPELINING), as smtp-source sends them, so the latency of each reply is the server's
/// alone. A refused command ends its message's transaction with RSET; a 421 reply, a broken connection or a timeout
/// ends the connection, and the session continues with the next message on a new one. Messages are never retried.
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

        var started = _time.GetTimestamp();
        var sessions = new Task<long>[_options.Sessions];
        for (var i = 0; i < sessions.Length; i++)
        {
            sessions[i] = RunSessionAsync(endPoint, cancellationToken);
        }

        var lastAccepted = (await Task.WhenAll(sessions)).Max();
        var finished = _time.GetTimestamp();
        return LoadResult.From(
            _options.Messages,
            _latencies,
            _time.TimestampFrequency,
            _errors,
            _firstErrors.ToArray(),
            _time.GetElapsedTime(started, lastAccepted > 0 ? lastAccepted : finished));
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

    // One session: connections one after another until the shared message count is used up. Returns the timestamp of
    // its last 250 to end-of-data (0 if none).
    private async Task<long> RunSessionAsync(IPEndPoint endPoint, CancellationToken cancellationToken)
    {
        await Task.Yield();
        var wire = Template.NewWireBuffer();
        var progress = new Progress();
        long lastAccepted = 0;
        int message;
        while (!cancellationToken.IsCancellationRequested
               && (message = Interlocked.Increment(ref _nextMessage)) < _options.Messages)
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            using var socket = new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            progress.Message = -1;
            try
            {
                progress.Step = "connect";
                timeout.CancelAfter(_options.ReplyTimeout);
                await socket.ConnectAsync(endPoint, timeout.Token);
                var replies = new SmtpReplyReader(socket);
                progress.Step = "greeting";
                await ExpectAsync(replies, 2, timeout);
                progress.Step = "EHLO";
                await SendAsync(socket, Template.Ehlo, timeout.Token);
                await ExpectAsync(replies, 2, timeout);

                for (var sent = 1; ; sent++)
                {
                    Template.WriteMessageNumber(wire, message);
                    progress.Message = message;
                    var accepted = await SendMessageAsync(socket, replies, wire, progress, timeout);
                    progress.Message = -1;
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

                progress.Step = "QUIT";
                await SendAsync(socket, MessageTemplate.Quit, timeout.Token);
                await ExpectAsync(replies, 2, timeout);
            }
            catch (SmtpReplyException ex)
            {
                RecordError(progress, ex.Message);
            }
            catch (OperationCanceledException)
            {
                // Stopped from outside (Ctrl+C): not an error, and the run reports what it measured so far.
                if (!cancellationToken.IsCancellationRequested)
                {
                    RecordError(progress, $"no reply within {_options.ReplyTimeout.TotalSeconds:0.#} s");
                }
            }
            catch (Exception ex) when (ex is SocketException or IOException)
            {
                RecordError(progress, ex.Message);
            }
        }

        return lastAccepted;
    }

    // One transaction. Returns the timestamp of the 250 to end-of-data, or 0 when the server refused a command (the
    // error is recorded and the transaction reset). Throws when the connection cannot go on.
    private async Task<long> SendMessageAsync(Socket socket, SmtpReplyReader replies, byte[] wire, Progress progress, CancellationTokenSource timeout)
    {
        try
        {
            progress.Step = "MAIL FROM";
            await SendAsync(socket, Template.MailFrom, timeout.Token);
            await ExpectAsync(replies, 2, timeout);
            progress.Step = "RCPT TO";
            foreach (var rcpt in Template.RcptTo)
            {
                await SendAsync(socket, rcpt, timeout.Token);
                await ExpectAsync(replies, 2, timeout);
            }

            progress.Step = "DATA";
            await SendAsync(socket, MessageTemplate.Data, timeout.Token);
            await ExpectAsync(replies, 3, timeout);
            progress.Step = "end of data";
            await SendAsync(socket, wire, timeout.Token);
            var endOfData = _time.GetTimestamp();
            await ExpectAsync(replies, 2, timeout);
            var accepted = _time.GetTimestamp();
            _latencies[progress.Message] = accepted - endOfData;
            return accepted;
        }
        catch (SmtpReplyException ex) when (ex.Code != 421)
        {
            // 421 closes the connection (RFC 5321 section 3.8); any other refusal only ends this transaction.
            RecordError(progress, ex.Message);
        }

        progress.Message = -1;
        progress.Step = "RSET after a refused command";
        await SendAsync(socket, MessageTemplate.Rset, timeout.Token);
        await ExpectAsync(replies, 2, timeout);
        return 0;
    }

    private async ValueTask ExpectAsync(SmtpReplyReader replies, int expectedClass, CancellationTokenSource timeout)
    {
        timeout.CancelAfter(_options.ReplyTimeout);
        var code = await replies.ReadReplyAsync(timeout.Token);
        if (code / 100 != expectedClass)
        {
            throw new SmtpReplyException(code, replies.LastReply);
        }
    }

    private static async ValueTask SendAsync(Socket socket, ReadOnlyMemory<byte> bytes, CancellationToken cancellationToken)
    {
        while (!bytes.IsEmpty)
        {
            var sent = await socket.SendAsync(bytes, SocketFlags.None, cancellationToken);
            bytes = bytes[sent..];
        }
    }

    private void RecordError(Progress progress, string description)
    {
        Interlocked.Increment(ref _errors);
        lock (_errorGate)
        {
            if (_firstErrors.Count < ListedErrors)
            {
                _firstErrors.Add(progress.Message >= 0
                    ? $"message {progress.Message}, {progress.Step}: {description}"
                    : $"{progress.Step}: {description}");
            }
        }
    }

    // Where a session is, for error reports; one per session so that no message allocates.
    private sealed class Progress
    {
        public string Step = "";
        public int Message = -1;
    }

    private sealed class SmtpReplyException(int code, string reply) : Exception(reply)
    {
        public int Code { get; } = code;
    }
}
