using System.Text;
using Elemta.Testing;

namespace Elemta.Bench.Load.Tests;

/// <summary>The generator's sessions against a real SMTP server on loopback (<see cref="SmtpSink"/>).</summary>
public sealed class LoadGeneratorTests : IAsyncLifetime
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private readonly SmtpSink _sink = SmtpSink.Start();

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _sink.DisposeAsync();

    [Fact]
    public async Task EveryMessageArrivesWithTenRecipientsSpreadTwoEachOverFiveDomains()
    {
        var options = Options() with { Sessions = 4, Messages = 30, Recipients = 10, Domains = 5, MessagesPerConnection = 4 };

        var result = await RunAsync(options);

        Assert.Equal((30, 0, 0), (result.Sent, result.Failed, result.Errors));
        var messages = _sink.Messages;
        Assert.Equal(30, messages.Count);
        foreach (var message in messages)
        {
            Assert.Equal("bench@example.org", message.MailFrom);
            Assert.Equal(10, message.Recipients.Count);
            Assert.Equal(10, message.Recipients.Distinct().Count());
            var perDomain = message.Recipients.GroupBy(r => r[(r.IndexOf('@', StringComparison.Ordinal) + 1)..])
                .ToDictionary(g => g.Key, g => g.Count());
            Assert.Equal(
                ["d1.example.net", "d2.example.net", "d3.example.net", "d4.example.net", "d5.example.net"],
                perDomain.Keys.Order());
            Assert.All(perDomain.Values, count => Assert.Equal(2, count));
        }

        // Four messages per connection: 30 messages need at least 8 connections, and no session sends a 5th.
        Assert.InRange(_sink.ConnectionCount, 8, 30);
        Assert.Equal(30, messages.Select(m => MessageId(m.Data)).Distinct().Count());
    }

    [Fact]
    public async Task OneRecipientInOneDomainIsTheSuffixItself()
    {
        var result = await RunAsync(Options() with { Messages = 3, Sessions = 2 });

        Assert.Equal(3, result.Sent);
        Assert.All(_sink.Messages, m => Assert.Equal(["rcpt@example.net"], m.Recipients));
        Assert.Equal(3, _sink.ConnectionCount);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(300)]
    [InlineData(1024)]
    [InlineData(1025)]
    [InlineData(10_000)]
    [InlineData(100_003)]
    public async Task MessageSizeIsWithinALineOfTheSizeAsked(int size)
    {
        var generator = new LoadGenerator(Options() with { Messages = 2, Size = size });
        var headerLength = HeaderLength(generator.Template.Content.Span);

        var result = await generator.RunAsync(Token());

        Assert.Equal(2, result.Sent);
        foreach (var message in _sink.Messages)
        {
            var expected = Math.Max(size, headerLength);
            Assert.InRange(message.Data.Length, expected, expected + MessageTemplate.FillerLineLength + 2);
            Assert.True(Lines(message.Data).All(l => l.Length <= MessageTemplate.FillerLineLength + 2), "a line is longer than 78 octets");
        }

        if (size >= headerLength + 1000)
        {
            // Large enough for exactness: the last filler line is cut to fit.
            Assert.All(_sink.Messages, m => Assert.Equal(size, m.Data.Length));
        }
    }

    [Fact]
    public async Task LinesStartingWithADotArriveIntact()
    {
        var generator = new LoadGenerator(Options() with { Messages = 5, Sessions = 2, Size = 4096 });
        var lines = Lines(generator.Template.Content.ToArray()).ToList();
        Assert.Contains(".\r\n", lines);
        Assert.Contains(lines, l => l.StartsWith('.') && l.Length > 3);

        var result = await generator.RunAsync(Token());

        Assert.Equal(5, result.Sent);
        foreach (var message in _sink.Messages)
        {
            var number = int.Parse(MessageId(message.Data)[..MessageTemplate.MessageNumberDigits], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Equal(Encoding.ASCII.GetString(generator.Template.ContentOf(number)), Encoding.ASCII.GetString(message.Data));
        }
    }

    [Fact]
    public async Task RefusedRecipientsAreCountedAsErrorsAndTheTransactionIsReset()
    {
        _sink.OnRecipient = r => r.EndsWith("@d2.example.net", StringComparison.Ordinal) ? new SmtpSinkReply(550, "5.1.1 No such user") : null;

        var result = await RunAsync(Options() with { Messages = 6, Sessions = 1, Recipients = 4, Domains = 2, MessagesPerConnection = 3 });

        // The first d2 recipient of each message is refused; the message is abandoned with RSET on the same connection.
        Assert.Equal((0, 6, 6), (result.Sent, result.Failed, result.Errors));
        Assert.Empty(_sink.Messages);
        Assert.Equal(2, _sink.ConnectionCount);
        Assert.All(result.FirstErrors, e => Assert.Contains("RCPT TO: 550 5.1.1 No such user", e, StringComparison.Ordinal));
        Assert.Equal(0.0, result.MessagesPerSecond);
    }

    [Fact]
    public async Task A421EndsTheConnectionAndTheNextMessageGoesOverANewOne()
    {
        var replies = 0;
        _sink.OnData = _ => Interlocked.Increment(ref replies) == 1 ? new SmtpSinkReply(421, "4.3.2 Shutting down") : null;

        var result = await RunAsync(Options() with { Messages = 3, Sessions = 1, MessagesPerConnection = 3 });

        Assert.Equal((2, 1, 1), (result.Sent, result.Failed, result.Errors));
        Assert.Equal(2, _sink.ConnectionCount);
        Assert.Contains("message 0, end of data: 421 4.3.2 Shutting down", result.FirstErrors);
    }

    [Fact]
    public async Task AGreetingThatRefusesServiceIsAnError()
    {
        _sink.ConnectReply = new SmtpSinkReply(554, "5.3.2 No service");

        var result = await RunAsync(Options() with { Messages = 2, Sessions = 1 });

        Assert.Equal((0, 2), (result.Sent, result.Errors));
        Assert.Equal(["greeting: 554 5.3.2 No service", "greeting: 554 5.3.2 No service"], result.FirstErrors);
    }

    [Fact]
    public async Task AServerThatNeverRepliesTimesOutAndTheSessionGoesOn()
    {
        // A peer that accepts connections and never greets.
        using var silent = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        silent.Start();
        var options = Options() with
        {
            Port = ((System.Net.IPEndPoint)silent.LocalEndpoint).Port, Messages = 2, Sessions = 1, ReplyTimeout = TimeSpan.FromMilliseconds(300),
        };

        var result = await RunAsync(options);

        Assert.Equal((0, 2), (result.Sent, result.Errors));
        Assert.Equal(["greeting: no reply within 0.3 s", "greeting: no reply within 0.3 s"], result.FirstErrors);
    }

    [Fact]
    public async Task CancellingTheRunStopsItAndReportsWhatWasMeasured()
    {
        using var stop = new CancellationTokenSource();
        var accepted = 0;
        _sink.OnData = _ => Interlocked.Increment(ref accepted) == 5 ? Cancel(stop) : null;

        var result = await new LoadGenerator(Options() with { Messages = 1000, Sessions = 1, MessagesPerConnection = 1000 }).RunAsync(stop.Token);

        // The fifth message's 250 may or may not have been read before its connection was closed.
        Assert.InRange(result.Sent, 4, 5);
        Assert.Equal(0, result.Errors);
        Assert.Equal(1000 - result.Sent, result.Failed);
    }

    private static SmtpSinkReply? Cancel(CancellationTokenSource stop)
    {
        stop.Cancel();
        return null;
    }

    [Fact]
    public async Task LatenciesAreMeasuredForEveryMessageAndOrdered()
    {
        var result = await RunAsync(Options() with { Messages = 50, Sessions = 5, MessagesPerConnection = 10 });

        Assert.Equal(50, result.Sent);
        Assert.True(result.LatencyP50Ms > 0, "p50 is zero");
        Assert.True(result.LatencyP50Ms <= result.LatencyP90Ms && result.LatencyP90Ms <= result.LatencyP99Ms
            && result.LatencyP99Ms <= result.LatencyMaxMs, result.ToSummaryLine());
        Assert.True(result.ElapsedSeconds > 0 && result.MessagesPerSecond > 0, result.ToSummaryLine());
    }

    private LoadOptions Options() => new() { Host = "127.0.0.1", Port = _sink.Port, Sessions = 3, Messages = 10, Size = 1024 };

    private static Task<LoadResult> RunAsync(LoadOptions options) => new LoadGenerator(options).RunAsync(Token());

    private static CancellationToken Token() => new CancellationTokenSource(Timeout).Token;

    private static string MessageId(byte[] data)
    {
        var text = Encoding.ASCII.GetString(data);
        var start = text.IndexOf("\r\nMessage-ID: <", StringComparison.Ordinal) + "\r\nMessage-ID: <".Length;
        return text[start..text.IndexOf('>', start)];
    }

    private static int HeaderLength(ReadOnlySpan<byte> content) => content.IndexOf("\r\n\r\n"u8) + 4;

    private static IEnumerable<string> Lines(byte[] data) =>
        Encoding.ASCII.GetString(data).Split("\r\n").SkipLast(1).Select(l => l + "\r\n");
}
