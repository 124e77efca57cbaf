using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Elemta.Delivery.Tests;

/// <summary>
/// A deliberately small SMTP server on loopback for what <see cref="Elemta.Testing.SmtpSink"/> cannot script:
/// a server that closes an idle session on its own, and a view of QUIT arriving. Commands are answered one
/// by one (no PIPELINING is offered), which is all the agent needs.
/// </summary>
internal sealed class ClosingSmtpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentBag<Task> _sessions = [];
    private readonly ConcurrentQueue<string> _commands = new();
    private readonly Task _acceptLoop;
    private readonly SemaphoreSlim _closedByServer = new(0);
    private readonly SemaphoreSlim _quits = new(0);
    private int _connectionCount;
    private int _messageCount;
    private int _quitCount;

    private ClosingSmtpServer(IPAddress address, ClosingMode mode)
    {
        Mode = mode;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        EndPoint = (IPEndPoint)_listener.LocalEndpoint;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>When the server ends a session by itself.</summary>
    public enum ClosingMode
    {
        /// <summary>Only when the client sends QUIT.</summary>
        Never,

        /// <summary>Right after answering 250 to the end of DATA: the session dies while the client holds it idle.</summary>
        AfterEachMessage,

        /// <summary>On the second MAIL of a session, without a reply: the session dies the moment it is reused.</summary>
        AtSecondMail,
    }

    public ClosingMode Mode { get; }

    public IPEndPoint EndPoint { get; }

    public int ConnectionCount => Volatile.Read(ref _connectionCount);

    public int MessageCount => Volatile.Read(ref _messageCount);

    public int QuitCount => Volatile.Read(ref _quitCount);

    /// <summary>Every command line received, in order, across sessions.</summary>
    public IReadOnlyList<string> Commands => [.. _commands];

    public static ClosingSmtpServer Start(IPAddress address, ClosingMode mode) =>
        IPAddress.IsLoopback(address) ? new ClosingSmtpServer(address, mode) : throw new ArgumentException("Loopback only.", nameof(address));

    /// <summary>Waits until the server has closed one more session by itself (the socket is closed when this returns).</summary>
    public async Task WaitForServerCloseAsync()
    {
        if (!await _closedByServer.WaitAsync(DeliveryTestKit.Long))
        {
            throw new TimeoutException("The server closed no session.");
        }
    }

    /// <summary>Waits until one more QUIT has been answered.</summary>
    public async Task WaitForQuitAsync()
    {
        if (!await _quits.WaitAsync(DeliveryTestKit.Long))
        {
            throw new TimeoutException($"No QUIT arrived; commands: {string.Join(" | ", _commands)}");
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _shutdown.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        await Task.WhenAll(_sessions);
        _shutdown.Dispose();
        _closedByServer.Dispose();
        _quits.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_shutdown.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connectionCount);
            _sessions.Add(ServeAsync(socket));
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        var closedByServer = false;
        try
        {
            using var stream = new NetworkStream(socket, ownsSocket: true);
            using var reader = new StreamReader(stream, Encoding.Latin1);
            var token = _shutdown.Token;
            await WriteAsync(stream, "220 closing.test ESMTP\r\n", token);
            var mails = 0;
            while (await reader.ReadLineAsync(token) is { } line)
            {
                _commands.Enqueue(line);
                var verb = (line.Length >= 4 ? line[..4] : line).ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO":
                        await WriteAsync(stream, "250-closing.test\r\n250-8BITMIME\r\n250 ENHANCEDSTATUSCODES\r\n", token);
                        break;
                    case "MAIL":
                        if (++mails == 2 && Mode == ClosingMode.AtSecondMail)
                        {
                            closedByServer = true;
                            return;
                        }

                        await WriteAsync(stream, "250 2.1.0 Ok\r\n", token);
                        break;
                    case "DATA":
                        await WriteAsync(stream, "354 go ahead\r\n", token);
                        while (await reader.ReadLineAsync(token) is { } data && data != ".")
                        {
                        }

                        Interlocked.Increment(ref _messageCount);
                        await WriteAsync(stream, "250 2.0.0 Ok: queued\r\n", token);
                        if (Mode == ClosingMode.AfterEachMessage)
                        {
                            closedByServer = true;
                            return;
                        }

                        break;
                    case "QUIT":
                        // Counted before the reply, so a client that has seen 221 always finds it counted.
                        Interlocked.Increment(ref _quitCount);
                        _quits.Release();
                        await WriteAsync(stream, "221 2.0.0 Bye\r\n", token);
                        return;
                    default:
                        // RCPT, RSET, NOOP.
                        await WriteAsync(stream, "250 2.0.0 Ok\r\n", token);
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client went away or the server is shutting down.
        }
        finally
        {
            // The using blocks have closed the socket by now (FIN to the client).
            if (closedByServer)
            {
                _closedByServer.Release();
            }
        }
    }

    private static ValueTask WriteAsync(NetworkStream stream, string text, CancellationToken token) =>
        stream.WriteAsync(Encoding.ASCII.GetBytes(text), token);
}
