using System.Text;
using MailKit.Net.Smtp;
using MailKit.Security;
using MimeKit;

namespace Elemta.Smtp.Tests;

/// <summary>Independent client implementations against the server: MailKit (.NET) and Python's smtplib.</summary>
public sealed class InteropTests
{
    private const string PythonPath = ExternalProcess.PythonPath;

    [Fact]
    public async Task MailKit_sends_two_messages_over_one_connection_and_the_acceptor_gets_both_byte_exact()
    {
        await using var server = await SmtpTestServer.StartAsync();
        var first = Encoding.ASCII.GetBytes(
            "From: Sender <sender@example.org>\r\n" +
            "To: one@example.net, two@example.net\r\n" +
            "Subject: first from MailKit\r\n" +
            "Date: Mon, 24 Nov 2025 12:00:00 +0000\r\n" +
            "Message-Id: <first@example.org>\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: text/plain; charset=us-ascii\r\n" +
            "\r\n" +
            "Hello\r\n" +
            ".leading dot\r\n" +
            "..two dots\r\n" +
            ".\r\n" +
            "last line\r\n");
        var second = Encoding.UTF8.GetBytes(
            "From: Sender <sender@example.org>\r\n" +
            "To: three@example.net\r\n" +
            "Subject: second from MailKit\r\n" +
            "Date: Mon, 24 Nov 2025 12:00:01 +0000\r\n" +
            "Message-Id: <second@example.org>\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: text/plain; charset=utf-8\r\n" +
            "Content-Transfer-Encoding: 8bit\r\n" +
            "\r\n" +
            "Grüße aus Köln\r\n");
        var sender = new MailboxAddress("Sender", "sender@example.org");

        using (var smtp = new SmtpClient { LocalDomain = "mailkit.test" })
        {
            await smtp.ConnectAsync("127.0.0.1", server.Port, SecureSocketOptions.None, TestTimeouts.Token());
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.Pipelining));
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.Size));
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.EightBitMime));
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.UTF8));
            Assert.True(smtp.Capabilities.HasFlag(SmtpCapabilities.EnhancedStatusCodes));
            Assert.Equal(25u * 1024 * 1024, smtp.MaxSize);

            var firstResponse = await smtp.SendAsync(
                Load(first), sender, [new MailboxAddress("", "one@example.net"), new MailboxAddress("", "two@example.net")], TestTimeouts.Token());
            var secondResponse = await smtp.SendAsync(
                Load(second), sender, [new MailboxAddress("", "three@example.net")], TestTimeouts.Token());
            await smtp.DisconnectAsync(quit: true, TestTimeouts.Token());

            Assert.Contains("queued as", firstResponse, StringComparison.Ordinal);
            Assert.Contains("queued as", secondResponse, StringComparison.Ordinal);
        }

        var messages = server.Acceptor.Messages;
        Assert.Equal(2, messages.Count);
        Assert.Equal("sender@example.org", messages[0].Envelope.Sender);
        Assert.Equal<string>(["one@example.net", "two@example.net"], messages[0].Envelope.Recipients);
        Assert.Equal("mailkit.test", messages[0].Envelope.HeloName);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[0], first, "mailkit.test");
        Assert.Equal<string>(["three@example.net"], messages[1].Envelope.Recipients);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[1], second, "mailkit.test");
        Assert.Empty(server.SessionFailures);
    }

    [Fact]
    public async Task Python_smtplib_sends_an_ascii_and_an_smtputf8_message_over_one_connection()
    {
        Assert.True(File.Exists(PythonPath), $"{PythonPath} is required for this interop test (Debian's python3).");
        await using var server = await SmtpTestServer.StartAsync();

        // Pure ASCII source: non-ASCII text is written as Python escapes, so no locale can mangle the argument.
        const string script = """
            import smtplib, sys
            first = b"From: py@example.org\r\nTo: a@example.net\r\nSubject: from python\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\nlast\r\n"
            second = "From: \u7528\u6237@\u4f8b\u5b50.\u6d4b\u8bd5\r\nSubject: utf8\r\n\r\n\u6b63\u6587\r\n".encode("utf-8")
            with smtplib.SMTP("127.0.0.1", int(sys.argv[1]), local_hostname="python.test", timeout=15) as s:
                code, _ = s.ehlo()
                assert code == 250, code
                for ext in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes"):
                    assert s.has_extn(ext), ext
                refused = s.sendmail("py@example.org", ["a@example.net", "b@example.net", "a@example.net"], first)
                assert refused == {}, refused
                refused = s.sendmail("\u7528\u6237@\u4f8b\u5b50.\u6d4b\u8bd5", ["\u6536\u4ef6\u4eba@\u4f8b\u5b50.\u6d4b\u8bd5"], second, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
                assert refused == {}, refused
                code, _ = s.noop()
                assert code == 250, code
            print("sent")
            """;

        var (exitCode, stdout, stderr) = await ExternalProcess.RunAsync(PythonPath, ["-I", "-c", script, server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);

        Assert.True(exitCode == 0, $"python exited with {exitCode}\nstdout:\n{stdout}\nstderr:\n{stderr}");
        Assert.Equal("sent", stdout.Trim());
        var messages = server.Acceptor.Messages;
        Assert.Equal(2, messages.Count);
        Assert.Equal("py@example.org", messages[0].Envelope.Sender);
        Assert.Equal<string>(["a@example.net", "b@example.net"], messages[0].Envelope.Recipients);
        Assert.Equal("python.test", messages[0].Envelope.HeloName);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(
            messages[0],
            Encoding.ASCII.GetBytes("From: py@example.org\r\nTo: a@example.net\r\nSubject: from python\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\nlast\r\n"),
            "python.test");
        Assert.Equal("用户@例子.测试", messages[1].Envelope.Sender);
        Assert.Equal<string>(["收件人@例子.测试"], messages[1].Envelope.Recipients);
        SmtpTestHelpers.AssertReceivedHeaderThenBody(messages[1], Encoding.UTF8.GetBytes("From: 用户@例子.测试\r\nSubject: utf8\r\n\r\n正文\r\n"), "python.test");
    }

    private static MimeMessage Load(byte[] raw) => MimeMessage.Load(new MemoryStream(raw));
}
