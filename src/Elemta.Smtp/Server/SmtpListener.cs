using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp.Server;

/// <summary>
/// Accepts SMTP connections and runs one <see cref="SmtpSession"/> per connection as a task (no thread per
/// connection). Binds in <see cref="StartAsync"/> so that a port in use stops the host with a clear error.
/// </summary>
internal sealed partial class SmtpListener(
    SmtpServerContext context,
    IOptions<SmtpServerOptions> options,
    ILogger<SmtpListener> logger) : IHostedService, IAsyncDisposable
{
    private readonly List<Socket> _sockets = [];
    private readonly ConcurrentDictionary<Task, bool> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _acceptLoops = [];

    /// <summary>The endpoints actually bound (port 0 resolved), for logs and tests.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => [.. _sockets.Select(s => (IPEndPoint)s.LocalEndPoint!)];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var port = options.Value.Port;
        var addresses = options.Value.ListenAddresses;
        try
        {
            if (addresses.Count == 0)
            {
                _sockets.Add(BindAny(port));
            }
            else
            {
                foreach (var address in addresses)
                {
                    if (!IPAddress.TryParse(address, out var ip))
                    {
                        throw new InvalidOperationException($"Elemta:Smtp:ListenAddresses entry '{address}' is not an IP address.");
                    }

                    _sockets.Add(Bind(new IPEndPoint(ip, port)));
                }
            }
        }
        catch (SocketException ex)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }

            throw new InvalidOperationException($"SMTP cannot listen on port {port}: {ex.Message}. Choose another with --port or Elemta:Smtp:Port.", ex);
        }

        foreach (var socket in _sockets)
        {
            LogListening((IPEndPoint)socket.LocalEndPoint!);
            _acceptLoops.Add(AcceptLoopAsync(socket));
        }

        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        // Sessions answer 421 and end; a message whose DATA is being accepted finishes first.
        await Task.WhenAll(_acceptLoops.Concat(_sessions.Keys)).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private static Socket BindAny(int port)
    {
        if (Socket.OSSupportsIPv6)
        {
            try
            {
                var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
                return Listen(socket, new IPEndPoint(IPAddress.IPv6Any, port));
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.AddressNotAvailable)
            {
                // No IPv6 on this host: fall back to IPv4 only.
            }
        }

        return Bind(new IPEndPoint(IPAddress.Any, port));
    }

    private static Socket Bind(IPEndPoint endPoint) =>
        Listen(new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp), endPoint);

    private static Socket Listen(Socket socket, IPEndPoint endPoint)
    {
        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(endPoint);
            socket.Listen(512);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    private async Task AcceptLoopAsync(Socket listener)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException
                                       || (ex is SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted })
                                       || _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Transient accept failures (e.g. out of descriptors) must not end the listener.
                LogAcceptFailed(ex.Message);
                continue;
            }

            var session = RunSessionAsync(client);
            _sessions.TryAdd(session, true);
            _ = session.ContinueWith(static (t, state) => ((ConcurrentDictionary<Task, bool>)state!).TryRemove(t, out _), _sessions, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task RunSessionAsync(Socket client)
    {
        await Task.Yield();
        client.NoDelay = true;
        var remote = (IPEndPoint)client.RemoteEndPoint!;
        var stream = new NetworkStream(client, ownsSocket: true);
        await using (stream.ConfigureAwait(false))
        {
            var input = PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true));
            var output = PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true));
            try
            {
                var session = new SmtpSession(input, output, remote, context, logger, _stopping.Token);
                await session.RunAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogSessionFailed(remote, ex);
            }
            finally
            {
                await input.CompleteAsync().ConfigureAwait(false);
                // The session has flushed every reply it could. Completing with an error drops whatever is left
                // rather than writing it, without a time limit, to a client that is gone or not reading: that write
                // could block for ever or throw out of the session task (and so out of StopAsync).
                await output.CompleteAsync(new OperationCanceledException("SMTP session ended")).ConfigureAwait(false);
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _stopping.Dispose();
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "SMTP listening on {EndPoint}")]
    private partial void LogListening(IPEndPoint endPoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Accepting an SMTP connection failed: {Reason}")]
    private partial void LogAcceptFailed(string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "SMTP session with {Client} failed")]
    private partial void LogSessionFailed(IPEndPoint client, Exception exception);
}
