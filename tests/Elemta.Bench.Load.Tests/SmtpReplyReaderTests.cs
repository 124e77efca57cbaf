using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Elemta.Bench.Load.Tests;

/// <summary>Reply parsing over a real loopback TCP connection, with replies split and joined across segments.</summary>
public sealed class SmtpReplyReaderTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(15);
    private Socket _client = null!;
    private Socket _server = null!;

    public async Task InitializeAsync()
    {
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen();
        _client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var accept = listener.AcceptAsync();
        await _client.ConnectAsync(listener.LocalEndPoint!);
        _server = await accept;
    }

    public Task DisposeAsync()
    {
        _client.Dispose();
        _server.Dispose();
        return Task.CompletedTask;
    }

    [Fact]
    public async Task AMultiLineReplySplitMidLineIsReadWhole()
    {
        var reader = NewReader();
        await SendAsync("250-sink.localhost\r\n250-PIPE");
        var reply = reader.ReadReplyAsync(Token());
        await WaitUntilReadAsync();
        Assert.False(reply.IsCompleted);

        await SendAsync("LINING\r\n250 SIZE 1000\r\n");

        Assert.Equal(250, await reply);
        Assert.Equal("250-sink.localhost / 250-PIPELINING / 250 SIZE 1000", reader.LastReply);
    }

    [Fact]
    public async Task RepliesArrivingTogetherAreReadOneAtATime()
    {
        var reader = NewReader();
        await SendAsync("250 2.1.0 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n550 5.1.1 No");

        Assert.Equal(250, await reader.ReadReplyAsync(Token()));
        Assert.Equal(354, await reader.ReadReplyAsync(Token()));
        var third = reader.ReadReplyAsync(Token());
        await SendAsync(" such user\r\n");
        Assert.Equal(550, await third);
        Assert.Equal("550 5.1.1 No such user", reader.LastReply);
    }

    [Fact]
    public async Task AReplyLongerThanTheBufferIsReadWhole()
    {
        var reader = NewReader();
        var lines = string.Concat(Enumerable.Range(0, 400).Select(i => $"250-EXTENSION{i:D4} with some parameters\r\n"));
        await SendAsync(lines + "250 HELP\r\n221 2.0.0 Bye\r\n");

        Assert.Equal(250, await reader.ReadReplyAsync(Token()));
        Assert.EndsWith("250-EXTENSION0399 with some parameters / 250 HELP", reader.LastReply, StringComparison.Ordinal);
        Assert.Equal(221, await reader.ReadReplyAsync(Token()));
    }

    [Fact]
    public async Task SomethingThatIsNotAReplyOrAClosedConnectionIsAnIOError()
    {
        var reader = NewReader();
        await SendAsync("HTTP/1.1 400 Bad Request\r\n");
        var garbage = await Assert.ThrowsAsync<IOException>(() => reader.ReadReplyAsync(Token()).AsTask());
        Assert.Contains("Not an SMTP reply line", garbage.Message, StringComparison.Ordinal);

        var closed = NewReader();
        _server.Shutdown(SocketShutdown.Send);
        await Assert.ThrowsAsync<IOException>(() => closed.ReadReplyAsync(Token()).AsTask());
    }

    private SmtpReplyReader NewReader()
    {
        var reader = new SmtpReplyReader();
        reader.Reset(_client);
        return reader;
    }

    private async Task SendAsync(string text) => await _server.SendAsync(Encoding.ASCII.GetBytes(text), SocketFlags.None);

    // The reader has taken every byte sent so far into its buffer once the socket has none left to read.
    private async Task WaitUntilReadAsync()
    {
        var deadline = DateTime.UtcNow + Timeout;
        while (_client.Available > 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "The reader did not read what was sent.");
            await Task.Delay(5);
        }
    }

    private static CancellationToken Token() => new CancellationTokenSource(Timeout).Token;
}
