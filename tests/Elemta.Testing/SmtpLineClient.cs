using System.Net.Sockets;
using System.Text;

namespace Elemta.Testing;

/// <summary>
/// Line-at-a-time SMTP over a plain TCP connection, for tests that must hold a session open across an event (a disk
/// filling, thousands of idle connections) where MailKit would send whole transactions at once.
/// </summary>
public sealed class SmtpLineClient : IDisposable
{
    private static readonly TimeSpan ReplyTimeout = TimeSpan.FromSeconds(60);
    private readonly TcpClient _client;
    private readonly Stream _stream;
    private readonly StreamReader _reader;

    private SmtpLineClient(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
        _reader = new StreamReader(_stream, Encoding.UTF8);
    }

    /// <summary>The last line of the server's greeting.</summary>
    public string Greeting { get; private set; } = string.Empty;

    /// <summary>Connects to 127.0.0.1:<paramref name="port"/> and reads the greeting; with <paramref name="ehlo"/>, says EHLO too.</summary>
    public static async Task<SmtpLineClient> ConnectAsync(int port, bool ehlo = false)
    {
        var client = new TcpClient();
        try
        {
            await client.ConnectAsync("127.0.0.1", port);
        }
        catch
        {
            client.Dispose();
            throw;
        }

        var smtp = new SmtpLineClient(client);
        smtp.Greeting = await smtp.ReadReplyAsync();
        if (ehlo)
        {
            await smtp.CommandAsync("EHLO test.example");
        }

        return smtp;
    }

    /// <summary>Sends one command line and returns the last line of its reply.</summary>
    public async Task<string> CommandAsync(string line)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(line + "\r\n"));
        return await ReadReplyAsync();
    }

    /// <summary>Sends message content (after a 354) and the final dot; returns the last line of the reply.</summary>
    public async Task<string> SendDataAsync(string content)
    {
        await _stream.WriteAsync(Encoding.UTF8.GetBytes(content + ".\r\n"));
        return await ReadReplyAsync();
    }

    /// <summary>Reads one complete reply and returns its last line ("(closed)" when the server closed the connection).</summary>
    public async Task<string> ReadReplyAsync()
    {
        using var timeout = new CancellationTokenSource(ReplyTimeout);
        while (true)
        {
            var line = await _reader.ReadLineAsync(timeout.Token) ?? "(closed)";
            if (line.Length < 4 || line[3] != '-')
            {
                return line;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _reader.Dispose();
        _client.Dispose();
    }
}
