using System.Text;

namespace Elemta.Smtp.Tests;

/// <summary>
/// The session's pooled content buffer: sized from <c>SIZE=</c> (or the first BDAT chunk) but never trusting it,
/// reused from message to message without one message's octets showing in the next, and lent to the acceptor
/// until it returns.
/// </summary>
public sealed class ContentBufferTests
{
    private const string Header = "From: a@example.org\r\nTo: b@example.net\r\nSubject: buffer\r\nMessage-ID: <b@example.org>\r\nDate: Mon, 24 Nov 2025 12:00:00 +0000\r\n\r\n";

    [Fact]
    public async Task Message_larger_than_the_SIZE_the_client_declared_arrives_intact()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = Body(200 * 1024, seed: 1);

        (await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=100")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync([.. DotStuff(body), .. ".\r\n"u8]);
        (await client.ReadReplyAsync()).AssertQueued();

        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), body);
    }

    [Fact]
    public async Task A_4_MiB_message_with_a_truthful_SIZE_arrives_byte_for_byte()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = Body(4 * 1024 * 1024, seed: 2);

        (await client.CommandAsync($"MAIL FROM:<a@example.org> SIZE={body.Length}")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await client.CommandAsync("DATA")).AssertIs(354);
        await client.SendAsync([.. DotStuff(body), .. ".\r\n"u8]);
        (await client.ReadReplyAsync()).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(message, body);
        Assert.Equal(message.Content.Length, message.Envelope.Size);
    }

    [Fact]
    public async Task A_4_MiB_message_in_BDAT_chunks_after_a_small_first_chunk_arrives_byte_for_byte()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = Body(4 * 1024 * 1024, seed: 3);

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        // The buffer is sized from the first chunk, so every later one makes it grow.
        var cuts = new[] { 0, 100, 70_000, 1_000_000, 3_000_000, body.Length };
        for (var i = 0; i < cuts.Length - 1; i++)
        {
            var last = i == cuts.Length - 2;
            var chunk = body[cuts[i]..cuts[i + 1]];
            await client.SendAsync([.. Encoding.ASCII.GetBytes($"BDAT {chunk.Length}{(last ? " LAST" : string.Empty)}\r\n"), .. chunk]);
            var reply = await client.ReadReplyAsync();
            if (last)
            {
                reply.AssertQueued();
            }
            else
            {
                reply.AssertIs(250, "2.0.0");
            }
        }

        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), body);
    }

    [Fact]
    public async Task Messages_of_one_session_do_not_carry_octets_of_the_one_before()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        // Large, then small (the reused array still holds the large one's octets past the small one's end), then a
        // small one without Message-ID and Date, whose insertion shifts the body inside the array, then BDAT.
        var large = Body(300 * 1024, seed: 4);
        var small = Encoding.ASCII.GetBytes(Header + "short\r\n");
        var bare = Encoding.ASCII.GetBytes("Subject: no id\r\n\r\nbody\r\n");
        var chunked = Encoding.ASCII.GetBytes(Header + "chunked\r\n");

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], Encoding.Latin1.GetString(DotStuff(large)))).AssertQueued();
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], Encoding.Latin1.GetString(small))).AssertQueued();
        (await client.SendMessageAsync("a@example.org", ["b@example.net"], Encoding.Latin1.GetString(bare))).AssertQueued();
        (await client.CommandAsync("MAIL FROM:<a@example.org> SIZE=1000000")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        await client.SendAsync([.. Encoding.ASCII.GetBytes($"BDAT {chunked.Length} LAST\r\n"), .. chunked]);
        (await client.ReadReplyAsync()).AssertQueued();

        var messages = server.Acceptor.Messages;
        Assert.Equal(4, messages.Count);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[0], large);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[1], small);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[2], bare);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[3], chunked);
    }

    [Fact]
    public async Task A_BDAT_transaction_abandoned_by_RSET_leaves_nothing_in_the_next_message()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var abandoned = Encoding.ASCII.GetBytes(Header + "never accepted\r\n");
        var accepted = Encoding.ASCII.GetBytes(Header + "accepted\r\n");

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        await client.SendAsync([.. Encoding.ASCII.GetBytes($"BDAT {abandoned.Length}\r\n"), .. abandoned]);
        (await client.ReadReplyAsync()).AssertIs(250, "2.0.0");
        (await client.CommandAsync("RSET")).AssertIs(250);
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        await client.SendAsync([.. Encoding.ASCII.GetBytes($"BDAT {accepted.Length} LAST\r\n"), .. accepted]);
        (await client.ReadReplyAsync()).AssertQueued();

        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), accepted);
    }

    [Fact]
    public async Task Content_stays_unchanged_until_the_acceptor_returns_while_other_sessions_receive()
    {
        await using var server = await SmtpTestServer.StartAsync();
        var first = Body(100 * 1024, seed: 5);
        var second = Body(100 * 1024, seed: 6);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstArrived = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        // The first acceptance waits (as for a commit) until a second session has received a message of the same
        // size class, which would have been written over the first one's array had it gone back to the pool early.
        server.Acceptor.BeforeRecording = _ =>
        {
            if (Interlocked.Increment(ref calls) == 1)
            {
                firstArrived.SetResult();
                return release.Task;
            }

            release.TrySetResult();
            return Task.CompletedTask;
        };
        await using var holding = await server.ConnectAndEhloAsync();
        await using var other = await server.ConnectAndEhloAsync();

        (await holding.CommandAsync($"MAIL FROM:<a@example.org> SIZE={first.Length}")).AssertIs(250, "2.1.0");
        (await holding.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
        (await holding.CommandAsync("DATA")).AssertIs(354);
        await holding.SendAsync([.. DotStuff(first), .. ".\r\n"u8]);
        var firstReply = holding.ReadReplyAsync();
        await firstArrived.Task.WaitAsync(TestTimeouts.Token());
        (await other.SendMessageAsync("c@example.org", ["d@example.net"], Encoding.Latin1.GetString(DotStuff(second)))).AssertQueued();
        (await firstReply).AssertQueued();

        var messages = server.Acceptor.Messages;
        Assert.Equal(2, messages.Count);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(messages, m => m.Envelope.Sender == "a@example.org"), first);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(messages, m => m.Envelope.Sender == "c@example.org"), second);
    }

    /// <summary>A message of about <paramref name="size"/> octets: the header, then 76-octet lines of seeded text, every seventh starting with a dot.</summary>
    private static byte[] Body(int size, int seed)
    {
        var random = new Random(seed);
        var text = new StringBuilder(Header, size + 100);
        var line = new char[76];
        for (var n = 0; text.Length < size; n++)
        {
            for (var i = 0; i < line.Length; i++)
            {
                line[i] = (char)random.Next(0x21, 0x7F);
            }

            if (n % 7 == 0)
            {
                line[0] = '.';
            }

            text.Append(line).Append("\r\n");
        }

        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>RFC 5321 §4.5.2: a dot is added at the start of every line that starts with one.</summary>
    private static byte[] DotStuff(byte[] body)
    {
        var text = Encoding.Latin1.GetString(body).Replace("\r\n.", "\r\n..", StringComparison.Ordinal);
        return Encoding.Latin1.GetBytes(text.StartsWith('.') ? "." + text : text);
    }
}
