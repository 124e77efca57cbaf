using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Elemta.Plugins.Policy.Tests;

/// <summary>
/// A FAKE policy server, scripted by the test: it reads requests as Postfix sends them (name=value lines, an empty
/// line) and writes whatever <see cref="Reply"/> returns for each, byte for byte, so a test can send the access(5)
/// actions postgrey never sends, and malformed replies. The real-server tests use <see cref="PostgreyServer"/>.
/// </summary>
internal sealed class FakePolicyServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _accepting;
    private int _connections;

    public FakePolicyServer(Func<IReadOnlyDictionary<string, string>, string> reply)
    {
        Reply = reply;
        _listener.Start();
        _accepting = AcceptAsync();
    }

    /// <summary>A fake that answers every request with <c>action=<paramref name="action"/></c>.</summary>
    public static FakePolicyServer Answering(string action) => new(_ => $"action={action}\n\n");

    /// <summary>The raw reply to each request (including the final empty line).</summary>
    public Func<IReadOnlyDictionary<string, string>, string> Reply { get; set; }

    /// <summary>Close the connection after each reply, as a server in one-request-per-connection mode does.</summary>
    public bool CloseAfterReply { get; set; }

    /// <summary>Awaited after each request is recorded and before it is answered, e.g. to hold replies until several requests are in.</summary>
    public Func<Task>? BeforeReply { get; set; }

    /// <summary>How many connections the plugin closed (the fake saw their end).</summary>
    public int ClosedByClient => Volatile.Read(ref _closedByClient);

    private int _closedByClient;

    /// <summary>Read requests but never answer (a hung server).</summary>
    public bool Silent { get; set; }

    public string Endpoint => $"inet:127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    /// <summary>Every request, in arrival order.</summary>
    public ConcurrentQueue<IReadOnlyDictionary<string, string>> Requests { get; } = new();

    /// <summary>How many connections the plugin opened.</summary>
    public int Connections => Volatile.Read(ref _connections);

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpClient client;
            try
            {
                client = await _listener.AcceptTcpClientAsync(_stop.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            Interlocked.Increment(ref _connections);
            _ = ServeAsync(client);
        }
    }

    private async Task ServeAsync(TcpClient client)
    {
        using var _ = client;
        try
        {
            var stream = client.GetStream();
            using var reader = new StreamReader(stream, Encoding.UTF8, leaveOpen: true);
            var attributes = new Dictionary<string, string>(StringComparer.Ordinal);
            while (await reader.ReadLineAsync(_stop.Token) is { } line)
            {
                if (line.Length > 0)
                {
                    var equals = line.IndexOf('=', StringComparison.Ordinal);
                    attributes[line[..equals]] = line[(equals + 1)..];
                    continue;
                }

                Requests.Enqueue(attributes);
                if (BeforeReply is { } gate)
                {
                    await gate();
                }

                if (!Silent)
                {
                    await stream.WriteAsync(Encoding.UTF8.GetBytes(Reply(attributes)), _stop.Token);
                }

                attributes = new Dictionary<string, string>(StringComparer.Ordinal);
                if (CloseAfterReply)
                {
                    return;
                }
            }

            Interlocked.Increment(ref _closedByClient);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _listener.Stop();
        await _accepting;
        _stop.Dispose();
    }
}
