using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Elemta.Testing.Internal;

namespace Elemta.Testing;

/// <summary>
/// A real ESMTP server on a loopback address that records the messages delivered to it, used as the
/// delivery destination (the "remote MX") in tests.
/// </summary>
/// <remarks>
/// <para>
/// Supports EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP, VRFY and QUIT (RFC 5321) with PIPELINING (RFC 2920),
/// 8BITMIME (RFC 6152), SMTPUTF8 (RFC 6531), SIZE (RFC 1870) and ENHANCEDSTATUSCODES (RFC 2034).
/// STARTTLS (RFC 3207) is offered when <see cref="ServerCertificate"/> is set, and REQUIRETLS (RFC 8689) inside TLS
/// when <see cref="AdvertiseRequireTls"/> is; AUTH PLAIN and LOGIN (RFC 4954) when <see cref="AuthUserName"/> is set,
/// which then also requires AUTH before MAIL. Any number of connections and any number of
/// messages per connection are served concurrently, all with asynchronous I/O.
/// </para>
/// <para>
/// Replies can be scripted with <see cref="ConnectReply"/>, <see cref="OnMailFrom"/>,
/// <see cref="OnRecipient"/> and <see cref="OnData"/>. A scripted reply with code 421 closes the
/// connection after it is sent, as RFC 5321 section 3.8 prescribes.
/// </para>
/// </remarks>
public sealed class SmtpSink : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentDictionary<long, SmtpSinkSession> _sessions = new();
    private readonly ConcurrentQueue<Exception> _errors = new();
    private readonly Lock _gate = new();
    private readonly List<SinkMessage> _messages = [];
    private readonly List<MessageWaiter> _messageWaiters = [];
    private readonly List<CountWaiter> _countWaiters = [];
    private Task _acceptLoop = Task.CompletedTask;
    private long _nextSessionId;
    private int _connectionCount;
    private int _authAttempts;
    private int _plaintextAuthAttempts;
    private int _disposed;

    private SmtpSink(IPAddress address, int port)
    {
        _listener = new TcpListener(address, port);
        _listener.Start();
        EndPoint = (IPEndPoint)_listener.LocalEndpoint;
    }

    /// <summary>
    /// Starts a sink listening on <paramref name="address"/> (default 127.0.0.1) and
    /// <paramref name="port"/> (default 0: an ephemeral port, see <see cref="Port"/>).
    /// </summary>
    /// <param name="address">A loopback address (127.0.0.0/8 or ::1); any other address is refused.</param>
    /// <param name="port">The TCP port, or 0 for an ephemeral one.</param>
    /// <exception cref="ArgumentException"><paramref name="address"/> is not a loopback address.</exception>
    public static SmtpSink Start(IPAddress? address = null, int port = 0)
    {
        address ??= IPAddress.Loopback;
        if (!IPAddress.IsLoopback(address))
        {
            throw new ArgumentException(
                $"SmtpSink only listens on loopback addresses (127.0.0.0/8, ::1), not {address}.", nameof(address));
        }

        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);

        var sink = new SmtpSink(address, port);
        var token = sink._shutdown.Token;
        sink._acceptLoop = Task.Run(() => sink.AcceptLoopAsync(token), CancellationToken.None);
        return sink;
    }

    /// <summary>The TCP port the sink listens on.</summary>
    public int Port => EndPoint.Port;

    /// <summary>The address and port the sink listens on.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The host name the sink announces in its greeting and EHLO reply.</summary>
    public string HostName { get; set; } = "sink.localhost";

    /// <summary>
    /// The maximum message size in bytes, advertised with the SIZE extension and enforced both on the
    /// MAIL FROM <c>SIZE=</c> parameter and on the received data (reply <c>552 5.3.4</c>, RFC 1870 section 6).
    /// Defaults to 64 MiB.
    /// </summary>
    public long MaxMessageSize { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// The certificate (with its private key) presented after STARTTLS; <see langword="null"/> (the default) does
    /// not offer STARTTLS. Set it before clients connect.
    /// </summary>
    public X509Certificate2? ServerCertificate { get; set; }

    /// <summary>Intermediate certificates sent with <see cref="ServerCertificate"/> (for chains through an intermediate CA).</summary>
    public X509Certificate2Collection? ServerCertificateChain { get; set; }

    /// <summary>The TLS versions the sink accepts; <see cref="SslProtocols.None"/> (the default) lets the system choose.</summary>
    public SslProtocols TlsProtocols { get; set; } = SslProtocols.None;

    /// <summary>
    /// The user name AUTH accepts (with <see cref="AuthPassword"/>); <see langword="null"/> (the default) does not offer
    /// AUTH. When set, EHLO advertises <c>AUTH PLAIN LOGIN</c>, MAIL before a successful AUTH gets <c>530 5.7.0</c>,
    /// and wrong credentials get <c>535 5.7.8</c> (RFC 4954 section 6).
    /// </summary>
    public string? AuthUserName { get; set; }

    /// <summary>The password AUTH accepts for <see cref="AuthUserName"/>.</summary>
    public string? AuthPassword { get; set; }

    /// <summary>Whether AUTH is offered (and accepted) only inside TLS, as most submission servers do.</summary>
    public bool AuthOnlyOverTls { get; set; }

    /// <summary>AUTH commands received so far, successful or not, with or without TLS (whether credentials were sent).</summary>
    public int AuthAttempts => Volatile.Read(ref _authAttempts);

    /// <summary>AUTH commands received in plaintext (before STARTTLS): credentials a network observer could read.</summary>
    public int PlaintextAuthAttempts => Volatile.Read(ref _plaintextAuthAttempts);

    /// <summary>Whether EHLO inside TLS advertises REQUIRETLS (RFC 8689). The MAIL parameter itself is accepted either way.</summary>
    public bool AdvertiseRequireTls { get; set; }

    /// <summary>
    /// The greeting sent when a client connects; <see langword="null"/> sends
    /// <c>220 &lt;HostName&gt; ESMTP</c>. A 421 reply closes the connection right after the greeting;
    /// any other non-2xx reply (e.g. 554) keeps the connection open but answers every command except
    /// QUIT with <c>503</c> (RFC 5321 section 3.1).
    /// </summary>
    public SmtpSinkReply? ConnectReply { get; set; }

    /// <summary>
    /// Scripts the reply to MAIL FROM. Given the reverse-path (empty for <c>&lt;&gt;</c>); return
    /// <see langword="null"/> for <c>250 2.1.0 Ok</c>.
    /// </summary>
    public Func<string, SmtpSinkReply?>? OnMailFrom { get; set; }

    /// <summary>
    /// Scripts the reply to RCPT TO. Given the recipient address; return <see langword="null"/> for
    /// <c>250 2.1.5 Ok</c>. Recipients that get a non-2xx reply are not part of the message.
    /// </summary>
    public Func<string, SmtpSinkReply?>? OnRecipient { get; set; }

    /// <summary>
    /// Scripts the reply after the end of DATA. Given the received message; return
    /// <see langword="null"/> for <c>250 2.0.0 Ok</c>. Only messages that get a 2xx reply are recorded
    /// in <see cref="Messages"/>.
    /// </summary>
    public Func<SinkMessage, SmtpSinkReply?>? OnData { get; set; }

    /// <summary>A snapshot of the messages accepted so far (those that got a 2xx reply to DATA), in arrival order.</summary>
    public IReadOnlyList<SinkMessage> Messages
    {
        get
        {
            lock (_gate)
            {
                return _messages.ToArray();
            }
        }
    }

    /// <summary>The number of TCP connections accepted so far.</summary>
    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    /// <summary>Counts an AUTH command (called by sessions).</summary>
    internal void CountAuth(bool plaintext)
    {
        Interlocked.Increment(ref _authAttempts);
        if (plaintext)
        {
            Interlocked.Increment(ref _plaintextAuthAttempts);
        }
    }

    /// <summary>
    /// Exceptions thrown by the reply hooks (those commands were answered with <c>451 4.3.0</c>) and
    /// unexpected session failures. Ordinary disconnects are not errors. Tests may assert this is empty.
    /// </summary>
    public IReadOnlyList<Exception> Errors => _errors.ToArray();

    /// <summary>
    /// Waits until a message matching <paramref name="predicate"/> has been accepted (including one
    /// accepted before the call) and returns the first such message.
    /// </summary>
    /// <param name="predicate">Selects the awaited message. It runs under the sink's lock: keep it cheap.</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="TimeoutException">No matching message arrived in time; the message lists what did arrive.</exception>
    public async Task<SinkMessage> WaitForMessageAsync(
        Func<SinkMessage, bool> predicate, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(predicate);
        MessageWaiter waiter;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            foreach (var message in _messages)
            {
                if (predicate(message))
                {
                    return message;
                }
            }

            waiter = new MessageWaiter(predicate);
            _messageWaiters.Add(waiter);
        }

        try
        {
            return await waiter.Completion.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(
                $"No message matching the predicate arrived at the SMTP sink {EndPoint} within {Describe(timeout)}. {DescribeState()}");
        }
        finally
        {
            lock (_gate)
            {
                _messageWaiters.Remove(waiter);
            }
        }
    }

    /// <summary>Waits until at least <paramref name="count"/> messages in total have been accepted.</summary>
    /// <param name="count">The number of accepted messages to wait for (counting those accepted before the call).</param>
    /// <param name="timeout">How long to wait; <see cref="Timeout.InfiniteTimeSpan"/> waits forever.</param>
    /// <param name="cancellationToken">Cancels the wait.</param>
    /// <exception cref="TimeoutException">Fewer messages arrived in time; the message says how many did.</exception>
    public async Task WaitForCountAsync(int count, TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        CountWaiter waiter;
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_disposed != 0, this);
            if (_messages.Count >= count)
            {
                return;
            }

            waiter = new CountWaiter(count);
            _countWaiters.Add(waiter);
        }

        try
        {
            await waiter.Completion.Task.WaitAsync(timeout, cancellationToken);
        }
        catch (TimeoutException)
        {
            throw new TimeoutException(
                $"Expected at least {count} message(s) at the SMTP sink {EndPoint} within {Describe(timeout)}. {DescribeState()}");
        }
        finally
        {
            lock (_gate)
            {
                _countWaiters.Remove(waiter);
            }
        }
    }

    /// <summary>Stops listening, closes all open sessions and fails pending waits with <see cref="ObjectDisposedException"/>.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _shutdown.CancelAsync();
        _listener.Stop();
        await _acceptLoop;

        // The accept loop has ended, so no session can be added any more.
        foreach (var session in _sessions.Values)
        {
            session.Abort();
        }

        await Task.WhenAll(_sessions.Values.Select(s => s.Completion));

        lock (_gate)
        {
            var disposed = new ObjectDisposedException(nameof(SmtpSink));
            foreach (var waiter in _messageWaiters)
            {
                waiter.Completion.TrySetException(disposed);
            }

            foreach (var waiter in _countWaiters)
            {
                waiter.Completion.TrySetException(disposed);
            }
        }

        _shutdown.Dispose();
    }

    /// <summary>Records an accepted message and completes the waits it satisfies.</summary>
    internal void AddMessage(SinkMessage message)
    {
        lock (_gate)
        {
            _messages.Add(message);
            foreach (var waiter in _messageWaiters)
            {
                if (waiter.Completion.Task.IsCompleted)
                {
                    continue;
                }

                try
                {
                    if (waiter.Predicate(message))
                    {
                        waiter.Completion.TrySetResult(message);
                    }
                }
                catch (Exception ex)
                {
                    // A throwing predicate fails its own wait, not the SMTP session.
                    waiter.Completion.TrySetException(ex);
                }
            }

            foreach (var waiter in _countWaiters)
            {
                if (_messages.Count >= waiter.Count)
                {
                    waiter.Completion.TrySetResult();
                }
            }
        }
    }

    internal void ReportError(Exception exception) => _errors.Enqueue(exception);

    private async Task AcceptLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(cancellationToken);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                // E.g. a connection reset before it was accepted: keep listening.
                continue;
            }

            Interlocked.Increment(ref _connectionCount);
            var id = Interlocked.Increment(ref _nextSessionId);
            var session = new SmtpSinkSession(this, socket);
            _sessions[id] = session;
            session.Start(() => _sessions.TryRemove(id, out _), cancellationToken);
        }
    }

    private string DescribeState()
    {
        SinkMessage[] messages;
        lock (_gate)
        {
            messages = _messages.ToArray();
        }

        var text = new StringBuilder();
        text.Append($"{messages.Length} message(s) arrived over {ConnectionCount} connection(s)");
        const int Listed = 10;
        for (var i = 0; i < Math.Min(messages.Length, Listed); i++)
        {
            text.Append(i == 0 ? ": " : "; ").Append(messages[i]);
        }

        if (messages.Length > Listed)
        {
            text.Append("; ...");
        }

        text.Append('.');
        var errors = _errors.ToArray();
        if (errors.Length > 0)
        {
            text.Append($" {errors.Length} sink error(s), first: {errors[0].GetType().Name}: {errors[0].Message}");
        }

        return text.ToString();
    }

    private static string Describe(TimeSpan timeout) =>
        timeout == Timeout.InfiniteTimeSpan ? "an infinite timeout" : $"{timeout.TotalMilliseconds:0.###} ms";

    private sealed class MessageWaiter(Func<SinkMessage, bool> predicate)
    {
        public Func<SinkMessage, bool> Predicate { get; } = predicate;

        public TaskCompletionSource<SinkMessage> Completion { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private sealed class CountWaiter(int count)
    {
        public int Count { get; } = count;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }
}
