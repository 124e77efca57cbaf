using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Elemta.Delivery.Tests.Local;

/// <summary>
/// A small LMTP server on loopback that accepts every recipient and then drops the connection at a chosen point,
/// which a healthy Dovecot cannot be made to do on cue. Serves one session at a time, without PIPELINING, so the
/// client's lock-step path is exercised too.
/// </summary>
public sealed class DroppingLmtpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Task _acceptLoop;
    private readonly TaskCompletionSource _dropped = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private DroppingLmtpServer(DropPoint drop)
    {
        Drop = drop;
        _listener = new TcpListener(IPAddress.Loopback, 0);
        _listener.Start();
        EndPoint = (IPEndPoint)_listener.LocalEndpoint;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>Where the server closes the connection.</summary>
    public enum DropPoint
    {
        /// <summary>After reading the whole message, before any per-recipient reply.</summary>
        AfterData,

        /// <summary>After the first recipient's reply (250) to the message: the others get none.</summary>
        AfterFirstRecipientReply,
    }

    public DropPoint Drop { get; }

    public IPEndPoint EndPoint { get; }

    public static DroppingLmtpServer Start(DropPoint drop) => new(drop);

    /// <summary>Completes when the server has dropped a connection at its drop point.</summary>
    public Task Dropped => _dropped.Task;

    public async ValueTask DisposeAsync()
    {
        await _shutdown.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        _shutdown.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (true)
        {
            try
            {
                using var socket = await _listener.AcceptSocketAsync(_shutdown.Token);
                await ServeAsync(socket, _shutdown.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                // The client went away; serve the next one.
            }
        }
    }

    private async Task ServeAsync(Socket socket, CancellationToken token)
    {
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        using var reader = new StreamReader(stream, Encoding.Latin1);
        await WriteAsync(stream, "220 dropping.test LMTP\r\n", token);
        var recipients = 0;
        while (await reader.ReadLineAsync(token) is { } line)
        {
            var verb = (line.Length >= 4 ? line[..4] : line).ToUpperInvariant();
            switch (verb)
            {
                case "LHLO":
                    await WriteAsync(stream, "250-dropping.test\r\n250 ENHANCEDSTATUSCODES\r\n", token);
                    break;
                case "RCPT":
                    recipients++;
                    await WriteAsync(stream, "250 2.1.5 OK\r\n", token);
                    break;
                case "DATA":
                    await WriteAsync(stream, "354 go ahead\r\n", token);
                    while (await reader.ReadLineAsync(token) is { } data && data != ".")
                    {
                    }

                    if (Drop == DropPoint.AfterFirstRecipientReply && recipients > 0)
                    {
                        await WriteAsync(stream, "250 2.0.0 first saved\r\n", token);
                    }

                    // Closing with the client's data read: a FIN, not a reset, as a crashing server's kernel would send.
                    socket.Shutdown(SocketShutdown.Both);
                    _dropped.TrySetResult();
                    return;
                case "QUIT":
                    await WriteAsync(stream, "221 2.0.0 Bye\r\n", token);
                    return;
                default:
                    // MAIL, RSET, NOOP.
                    await WriteAsync(stream, "250 2.0.0 OK\r\n", token);
                    break;
            }
        }
    }

    private static ValueTask WriteAsync(NetworkStream stream, string text, CancellationToken token) =>
        stream.WriteAsync(Encoding.ASCII.GetBytes(text), token);
}
