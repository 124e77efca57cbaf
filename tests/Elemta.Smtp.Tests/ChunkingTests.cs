using System.Text;
using MailKit;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Elemta.Smtp.Tests;

/// <summary>CHUNKING (RFC 3030): BDAT chunks of declared size, no dot-stuffing, no end-of-data scan.</summary>
public sealed class ChunkingTests
{
    // Has Message-ID and Date, so the server stores it byte for byte after its Received header.
    private const string Header = "From: a@example.org\r\nTo: b@example.net\r\nSubject: chunks\r\nMessage-ID: <c@example.org>\r\nDate: Mon, 24 Nov 2025 12:00:00 +0000\r\n\r\n";

    [Fact]
    public async Task Ehlo_advertises_CHUNKING_and_DSN_but_not_BINARYMIME()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);

        var keywords = (await client.CommandAsync("EHLO client.test")).AssertIs(250).Texts.Skip(1).ToList();

        Assert.Contains("CHUNKING", keywords);
        Assert.Contains("DSN", keywords);
        Assert.DoesNotContain("BINARYMIME", keywords);
    }

    [Fact]
    public async Task One_BDAT_LAST_stores_the_octets_verbatim_even_what_DATA_would_treat_specially()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        // A lone dot line, leading dots, a bare LF and a bare CR in the body: none of it means anything in BDAT.
        var body = Ascii(Header + "line\r\n.\r\n..two\r\nbare\nlf\rcr\r\n");

        await StartTransactionAsync(client);
        await client.SendAsync(Ascii($"BDAT {body.Length} LAST\r\n"));
        await client.SendAsync(body);
        (await client.ReadReplyAsync()).AssertQueued();

        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), body);
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
    }

    [Fact]
    public async Task A_NUL_in_BDAT_content_is_554_5_6_0_without_BINARYMIME()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = Ascii(Header + "binary\0octet\r\n");

        await StartTransactionAsync(client);
        await client.SendAsync(Ascii($"BDAT {body.Length} LAST\r\n"));
        await client.SendAsync(body);
        (await client.ReadReplyAsync()).AssertIs(554, "5.6.0");

        Assert.Equal(0, server.Acceptor.Calls);
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
    }

    [Fact]
    public async Task Chunks_get_250_2_0_0_each_and_LAST_accepts_their_concatenation()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = Ascii(Header + "first part, split inside a CRLF\r\nsecond part\r\n");
        var cut = body.Length - 14; // between the CR and the LF of the first body line's end

        await StartTransactionAsync(client);
        (await SendChunkAsync(client, body[..cut], last: false)).AssertIs(250, "2.0.0");
        (await SendChunkAsync(client, body[cut..], last: false)).AssertIs(250, "2.0.0");
        var id = (await SendChunkAsync(client, [], last: true)).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        Assert.Equal(id, message.Envelope.MessageId);
        Assert.Equal(message.Content.Length, message.Envelope.Size);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(message, body);
    }

    [Fact]
    public async Task Per_chunk_reply_names_the_octets_received()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await StartTransactionAsync(client);
        var reply = (await SendChunkAsync(client, Ascii("Subject: x\r\n"), last: false)).AssertIs(250, "2.0.0");

        Assert.Equal("2.0.0 12 octets received", reply.Text);
    }

    [Fact]
    public async Task Whole_transactions_with_pipelined_chunks_in_one_write_get_every_reply_in_order()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var first = Ascii(Header + "one\r\n");
        var second = Ascii(Header + "two\r\n");

        var batch = new MemoryStream();
        batch.Write(Ascii("MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n"));
        batch.Write(Ascii($"BDAT 10\r\n"));
        batch.Write(first.AsSpan(0, 10));
        batch.Write(Ascii($"BDAT {first.Length - 10} LAST\r\n"));
        batch.Write(first.AsSpan(10));
        batch.Write(Ascii("MAIL FROM:<c@example.org>\r\nRCPT TO:<d@example.net>\r\n"));
        batch.Write(Ascii($"BDAT {second.Length} LAST\r\n"));
        batch.Write(second);
        batch.Write(Ascii("QUIT\r\n"));
        await client.SendAsync(batch.ToArray());

        var replies = await client.ReadRepliesAsync(8);
        replies[0].AssertIs(250, "2.1.0");
        replies[1].AssertIs(250, "2.1.5");
        replies[2].AssertIs(250, "2.0.0");
        replies[3].AssertQueued();
        replies[4].AssertIs(250, "2.1.0");
        replies[5].AssertIs(250, "2.1.5");
        replies[6].AssertQueued();
        replies[7].AssertIs(221, "2.0.0");
        await client.AssertClosedByServerAsync();

        var messages = server.Acceptor.Messages;
        Assert.Equal(2, messages.Count);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[0], first);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[1], second);
        Assert.Equal<string>(["d@example.net"], messages[1].Envelope.Recipients);
    }

    [Fact]
    public async Task Chunk_larger_than_the_read_buffer_arrives_whole()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = Ascii(Header + string.Concat(Enumerable.Repeat(new string('x', 78) + "\r\n", 5000)));

        await StartTransactionAsync(client);
        (await SendChunkAsync(client, body, last: true)).AssertQueued();

        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), body);
    }

    [Fact]
    public async Task Chunks_over_MaxMessageSize_are_552_5_3_4_consumed_and_later_pipelined_chunks_are_503_and_consumed_too()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessageSize"] = "2048" });
        await using var client = await server.ConnectAndEhloAsync();

        await StartTransactionAsync(client);
        (await SendChunkAsync(client, new byte[1500], last: false)).AssertIs(250, "2.0.0");
        // The declared octets are commands in disguise: were they not consumed, they would answer 250 each.
        var overflow = Ascii(string.Concat(Enumerable.Repeat("NOOP\r\n", 100)));
        var afterFailure = Ascii(string.Concat(Enumerable.Repeat("NOOP\r\n", 3)));
        await client.SendAsync([.. Ascii($"BDAT {overflow.Length}\r\n"), .. overflow, .. Ascii($"BDAT {afterFailure.Length} LAST\r\n"), .. afterFailure]);

        (await client.ReadReplyAsync()).AssertIs(552, "5.3.4");
        (await client.ReadReplyAsync()).AssertIs(503, "5.5.1");
        (await client.CommandAsync("NOOP")).AssertIs(250, "2.0.0");
        Assert.Equal(0, server.Acceptor.Calls);

        // A new transaction in the same session is unaffected.
        await StartTransactionAsync(client);
        (await SendChunkAsync(client, Ascii(Header + "small\r\n"), last: true)).AssertQueued();
        Assert.Single(server.Acceptor.Messages);
    }

    [Fact]
    public async Task Chunks_adding_up_to_exactly_MaxMessageSize_are_accepted()
    {
        await using var server = await SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["MaxMessageSize"] = "2048" });
        await using var client = await server.ConnectAndEhloAsync();
        var body = Ascii(Header + new string('b', 2048 - Header.Length - 2) + "\r\n");
        Assert.Equal(2048, body.Length);

        await StartTransactionAsync(client);
        (await SendChunkAsync(client, body[..1000], last: false)).AssertIs(250, "2.0.0");
        (await SendChunkAsync(client, body[1000..], last: true)).AssertQueued();

        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), body);
    }

    [Fact]
    public async Task BDAT_without_MAIL_is_503_5_5_1_and_its_octets_are_not_read_as_commands()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await SendChunkAsync(client, Ascii("RSET\r\nNOOP\r\n"), last: true)).AssertIs(503, "5.5.1");
        (await client.CommandAsync("HELP")).AssertIs(214, "2.0.0");
    }

    [Fact]
    public async Task BDAT_without_RCPT_is_503_5_5_1_and_its_octets_are_not_read_as_commands()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await SendChunkAsync(client, Ascii("NOOP\r\n"), last: true)).AssertIs(503, "5.5.1");
        (await client.CommandAsync("HELP")).AssertIs(214, "2.0.0");
        Assert.Equal(0, server.Acceptor.Calls);
    }

    [Fact]
    public async Task DATA_after_BDAT_in_the_same_transaction_is_503_5_5_1_and_the_chunks_so_far_are_kept()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = Ascii(Header + "kept\r\n");

        await StartTransactionAsync(client);
        (await SendChunkAsync(client, body, last: false)).AssertIs(250, "2.0.0");
        (await client.CommandAsync("DATA")).AssertIs(503, "5.5.1");
        (await SendChunkAsync(client, [], last: true)).AssertQueued();

        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), body);
    }

    [Fact]
    public async Task RCPT_after_BDAT_is_503_5_5_1()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await StartTransactionAsync(client);
        (await SendChunkAsync(client, Ascii("Subject: x\r\n"), last: false)).AssertIs(250, "2.0.0");
        (await client.CommandAsync("RCPT TO:<late@example.net>")).AssertIs(503, "5.5.1");
        (await SendChunkAsync(client, Ascii("\r\nbody\r\n"), last: true)).AssertQueued();

        Assert.Equal<string>(["b@example.net"], Assert.Single(server.Acceptor.Messages).Envelope.Recipients);
    }

    [Theory]
    [InlineData("BDAT")]
    [InlineData("BDAT abc")]
    [InlineData("BDAT -1")]
    [InlineData("BDAT +5")]
    [InlineData("BDAT 5 NOTLAST")]
    [InlineData("BDAT 5 LAST extra")]
    [InlineData("BDAT  5")]
    [InlineData("BDAT 99999999999999999999")]
    public async Task BDAT_with_a_bad_size_or_marker_is_501_5_5_4(string command)
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await StartTransactionAsync(client);
        (await client.CommandAsync(command)).AssertIs(501, "5.5.4");
        // Nothing was read as content: the transaction is still open for a proper chunk.
        (await SendChunkAsync(client, Ascii(Header + "ok\r\n"), last: true)).AssertQueued();
    }

    [Fact]
    public async Task RSET_after_a_chunk_drops_the_message_and_a_new_transaction_starts_clean()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();
        var body = Ascii(Header + "second\r\n");

        await StartTransactionAsync(client);
        (await SendChunkAsync(client, Ascii("Subject: dropped\r\n"), last: false)).AssertIs(250, "2.0.0");
        (await client.CommandAsync("RSET")).AssertIs(250, "2.0.0");
        await StartTransactionAsync(client);
        (await SendChunkAsync(client, body, last: true)).AssertQueued();

        SmtpTestHelpers.AssertReceivedHeaderThenBody(Assert.Single(server.Acceptor.Messages), body);
    }

    [Fact]
    public async Task Client_hanging_up_inside_a_chunk_leaves_no_message()
    {
        await using var server = await SmtpTestServer.StartAsync();
        var client = await server.ConnectAndEhloAsync();

        await StartTransactionAsync(client);
        await client.SendAsync(Ascii("BDAT 1000 LAST\r\nSubject: cut off\r\n"));
        await client.DisposeAsync();

        await server.StopAsync();
        Assert.Equal(0, server.Acceptor.Calls);
        Assert.Empty(server.SessionFailures);
    }

    [Fact]
    public async Task Header_rules_apply_to_BDAT_but_the_DATA_line_checks_do_not()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await StartTransactionAsync(client);
        (await SendChunkAsync(client, Ascii("Subject: " + new string('h', 990) + "\r\n\r\nbody\r\n"), last: true)).AssertIs(554, "5.6.0");
        await StartTransactionAsync(client);
        (await SendChunkAsync(client, Ascii("Subject: a\0b\r\n\r\nbody\r\n"), last: true)).AssertIs(554, "5.6.0");
        Assert.Equal(0, server.Acceptor.Calls);

        // A 5000-octet body line and a bare LF are fine in a chunk; missing Message-ID and Date are added.
        var body = "Subject: long\r\n\r\n" + new string('l', 5000) + "\r\nunix\n";
        await StartTransactionAsync(client);
        (await SendChunkAsync(client, Ascii(body), last: true)).AssertQueued();
        var message = Assert.Single(server.Acceptor.Messages);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(message, Ascii(body));
        Assert.Contains($"\r\nMessage-ID: <{message.Envelope.MessageId}@mx.test>\r\nDate: ", Encoding.ASCII.GetString(message.Content), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Chunked_content_ending_inside_a_header_line_gets_the_added_fields_on_lines_of_their_own()
    {
        await using var server = await SmtpTestServer.StartAsync();
        await using var client = await server.ConnectAndEhloAsync();

        await StartTransactionAsync(client);
        (await SendChunkAsync(client, Ascii("Subject: no line end"), last: true)).AssertQueued();

        var message = Assert.Single(server.Acceptor.Messages);
        var text = Encoding.ASCII.GetString(message.Content);
        var date = message.Envelope.ReceivedAt.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture);
        Assert.EndsWith($"\r\nSubject: no line end\r\nMessage-ID: <{message.Envelope.MessageId}@mx.test>\r\nDate: {date} +0000\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MailKit_sending_with_BDAT_delivers_identical_bytes()
    {
        await using var server = await SmtpTestServer.StartAsync();
        var raw = Encoding.UTF8.GetBytes(
            "From: Sender <sender@example.org>\r\n" +
            "To: one@example.net\r\n" +
            "Subject: chunked from MailKit\r\n" +
            "Date: Mon, 24 Nov 2025 12:00:00 +0000\r\n" +
            "Message-Id: <chunked@example.org>\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\n" +
            "Content-Transfer-Encoding: 8bit\r\n" +
            "\r\n" +
            "Grüße\r\n" +
            ".leading dot, which BDAT does not stuff\r\n" +
            ".\r\n" +
            "last line\r\n");
        using var log = new MemoryStream();

        using (var smtp = new ChunkingSmtpClient(new ProtocolLogger(log, leaveOpen: true)) { LocalDomain = "mailkit.test" })
        {
            await smtp.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, TestTimeouts.Token());
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.Chunking));
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.Dsn));
            var response = await smtp.SendAsync(
                MimeMessage.Load(new MemoryStream(raw)), new MailboxAddress("", "sender@example.org"), [new MailboxAddress("", "one@example.net")], TestTimeouts.Token());
            await smtp.DisconnectAsync(quit: true, TestTimeouts.Token());
            Assert.Contains("queued as", response, StringComparison.Ordinal);
        }

        // MailKit uses BDAT only when asked to (or for binary MIME parts): make sure it did.
        Assert.Contains("BDAT ", Encoding.UTF8.GetString(log.ToArray()), StringComparison.Ordinal);
        var message = Assert.Single(server.Acceptor.Messages);
        Assert.Equal("sender@example.org", message.Envelope.Sender);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(message, raw, "mailkit.test");
        Assert.Empty(server.SessionFailures);
    }

    private sealed class ChunkingSmtpClient(IProtocolLogger logger) : SmtpClient(logger)
    {
        protected override bool PreferSendAsBinaryData => true;
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);

    private static async Task StartTransactionAsync(RawSmtpClient client)
    {
        (await client.CommandAsync("MAIL FROM:<a@example.org>")).AssertIs(250, "2.1.0");
        (await client.CommandAsync("RCPT TO:<b@example.net>")).AssertIs(250, "2.1.5");
    }

    /// <summary>Sends <c>BDAT n [LAST]</c> and the chunk in one write, and reads the one reply.</summary>
    private static async Task<SmtpReply> SendChunkAsync(RawSmtpClient client, byte[] chunk, bool last)
    {
        await client.SendAsync([.. Ascii($"BDAT {chunk.Length}{(last ? " LAST" : string.Empty)}\r\n"), .. chunk]);
        return await client.ReadReplyAsync();
    }
}
