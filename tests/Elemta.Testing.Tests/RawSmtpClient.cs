using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Elemta.Testing.Tests;

/// <summary>A bare TCP client for protocol-level tests that MailKit would not produce (pipelining in one packet, misuse).</summary>
internal sealed class RawSmtpClient : IAsyncDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private readonly StreamReader _reader;

    private RawSmtpClient(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    public static async Task<RawSmtpClient> ConnectAsync(IPEndPoint endPoint)
    {
        var client = new TcpClient(endPoint.AddressFamily);
        await client.ConnectAsync(endPoint, TestTimeouts.Token());
        return new RawSmtpClient(client);
    }

    /// <summary>Sends the text in one write (one packet on loopback for small payloads).</summary>
    public async Task SendAsync(string text) =>
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(text), TestTimeouts.Token());

    /// <summary>Reads one complete, possibly multi-line reply and returns its lines.</summary>
    public async Task<IReadOnlyList<string>> ReadReplyAsync()
    {
        var lines = new List<string>();
        while (true)
        {
            var line = await _reader.ReadLineAsync(TestTimeouts.Token())
                       ?? throw new EndOfStreamException($"Connection closed after {lines.Count} reply line(s).");
            lines.Add(line);
            if (line.Length < 4 || line[3] == ' ')
            {
                return lines;
            }
        }
    }

    /// <summary>Reads one reply and returns its last line, e.g. "250 2.0.0 Ok".</summary>
    public async Task<string> ReadReplyLineAsync() => (await ReadReplyAsync())[^1];

    /// <summary>Returns true when the server has closed the connection (reads end of stream).</summary>
    public async Task<bool> IsClosedByServerAsync()
    {
        try
        {
            return await _reader.ReadLineAsync(TestTimeouts.Token()) is null;
        }
        catch (IOException)
        {
            return true;
        }
    }

    public ValueTask DisposeAsync()
    {
        _reader.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
