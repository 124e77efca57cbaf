using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Elemta.Testing;

/// <summary>How a <see cref="BrokenSmtpServer"/> misbehaves.</summary>
public enum SmtpServerFault
{
    /// <summary>Takes MAIL, RCPT and DATA, reads the content, then never answers the final dot.</summary>
    StallAfterData,

    /// <summary>Takes the whole message, then closes the connection instead of answering the final dot.</summary>
    DropAfterData,

    /// <summary>Sends its greeting and every reply one octet per second.</summary>
    OneOctetPerSecond,
}

/// <summary>
/// A destination that fails the way real ones do (a stalled or dropping server, a trickling one), so tests can show
/// that healthy destinations are not held up by it. Counts the connections it took and the messages it read.
/// </summary>
public sealed class BrokenSmtpServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly SmtpServerFault _fault;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _sessions = [];
    private readonly Task _accept;
    private int _connections;
    private int _messages;

    private BrokenSmtpServer(IPAddress address, SmtpServerFault fault)
    {
        _fault = fault;
        _listener = new TcpListener(address, 0);
        _listener.Start(512);
        _accept = AcceptAsync();
    }

    /// <summary>Starts listening on <paramref name="address"/> (a free port).</summary>
    public static BrokenSmtpServer Start(SmtpServerFault fault, IPAddress? address = null) => new(address ?? IPAddress.Loopback, fault);

    /// <summary>Where it listens.</summary>
    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndpoint;

    /// <summary>Connections accepted so far.</summary>
    public int Connections => Volatile.Read(ref _connections);

    /// <summary>Messages whose content was read up to the final dot.</summary>
    public int Messages => Volatile.Read(ref _messages);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            lock (_sessions)
            {
                _sessions.Add(ServeAsync(client));
            }
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        var stream = client.GetStream();
        using var reader = new StreamReader(stream, Encoding.ASCII);
        try
        {
            await ReplyAsync(stream, "220 broken.test ESMTP");
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                var verb = line.Length >= 4 ? line[..4].ToUpperInvariant() : line.ToUpperInvariant();
                switch (verb)
                {
                    case "EHLO" or "HELO":
                        await ReplyAsync(stream, "250 broken.test");
                        break;
                    case "MAIL" or "RCPT" or "RSET" or "NOOP":
                        await ReplyAsync(stream, "250 2.0.0 Ok");
                        break;
                    case "DATA":
                        await ReplyAsync(stream, "354 go ahead");
                        while (await reader.ReadLineAsync(_stop.Token) is { } data && data != ".")
                        {
                        }

                        Interlocked.Increment(ref _messages);
                        if (_fault == SmtpServerFault.StallAfterData)
                        {
                            await Task.Delay(Timeout.Infinite, _stop.Token);
                        }

                        if (_fault == SmtpServerFault.DropAfterData)
                        {
                            return;
                        }

                        await ReplyAsync(stream, "250 2.0.0 Ok");
                        break;
                    case "QUIT":
                        await ReplyAsync(stream, "221 2.0.0 Bye");
                        return;
                    default:
                        await ReplyAsync(stream, "502 5.5.1 Not implemented");
                        break;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The client gave up, or the server is stopping: both are what these faults are about.
        }
    }

    private async Task ReplyAsync(NetworkStream stream, string line)
    {
        var bytes = Encoding.ASCII.GetBytes(line + "\r\n");
        if (_fault != SmtpServerFault.OneOctetPerSecond)
        {
            await stream.WriteAsync(bytes, _stop.Token);
            return;
        }

        foreach (var octet in bytes)
        {
            await stream.WriteAsync(new[] { octet }, _stop.Token);
            await Task.Delay(TimeSpan.FromSeconds(1), _stop.Token);
        }
    }

    /// <summary>Stops listening and ends every session.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accept;
        Task[] sessions;
        lock (_sessions)
        {
            sessions = [.. _sessions];
        }

        await Task.WhenAll(sessions);
        _stop.Dispose();
    }
}
