using System.Text;
using Elemta.Contracts;
using MimeKit;
using static Elemta.Bounces.Tests.NoticeTestKit;

namespace Elemta.Bounces.Tests;

/// <summary>The third part: the original whole or its header, by RET, kind and size, and originals that are not well formed.</summary>
public class ReturnedContentTests
{
    private static readonly byte[] Original = Encoding.ASCII.GetBytes(SimpleOriginal);

    private static MimeEntity ReturnedPart(NoticeKind kind, string? ret, byte[]? original = null, BounceOptions? options = null)
    {
        original ??= Original;
        var envelope = Envelope(dsn: ret is null ? null : Dsn(ret, recipients: []), size: original.Length);
        var report = kind switch
        {
            NoticeKind.Failure => Failed(),
            NoticeKind.Delay => new RecipientReport("bob@example.net", RecipientAction.Delayed, "451 4.3.0 later"),
            _ => new RecipientReport("bob@example.net", RecipientAction.Relayed, "250 2.0.0 Ok"),
        };
        var notice = Builder(options).Build(Request(kind, envelope, originalBytes: original, reports: report));
        AssertCrlfOnly(notice.Content);
        return Parts(Parse(notice.Content)).Returned;
    }

    private static byte[] ReturnedBytes(MessagePart part)
    {
        using var stream = new MemoryStream();
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        part.Message!.WriteTo(format, stream);
        return stream.ToArray();
    }

    /// <summary>Which part goes back: true for the whole message, false for the header only.</summary>
    [Theory]
    [InlineData(NoticeKind.Failure, "FULL", 10, true)]
    [InlineData(NoticeKind.Failure, "HDRS", 1_000_000, false)]
    [InlineData(NoticeKind.Failure, null, 1_000_000, true)]
    [InlineData(NoticeKind.Failure, null, 100, false)]
    [InlineData(NoticeKind.Failure, "FULL", 100, true)]
    [InlineData(NoticeKind.Delay, "FULL", 1_000_000, false)]
    [InlineData(NoticeKind.Delay, null, 1_000_000, false)]
    [InlineData(NoticeKind.Success, "FULL", 1_000_000, false)]
    [InlineData(NoticeKind.Success, null, 1_000_000, false)]
    public void Ret_kind_and_size_decide_whether_the_whole_message_or_its_header_goes_back(NoticeKind kind, string? ret, long maxReturnedSize, bool whole)
    {
        Assert.InRange(Original.Length, 101, 1_000_000);
        var returned = ReturnedPart(kind, ret, options: new BounceOptions { ReportingHostName = Host, MaxReturnedSize = maxReturnedSize });

        if (whole)
        {
            Assert.True(returned.ContentType.IsMimeType("message", "rfc822"));
            var part = Assert.IsType<MessagePart>(returned);
            Assert.Equal("quarterly report", part.Message!.Subject);
            Assert.Equal(Original, ReturnedBytes(part));
        }
        else
        {
            Assert.True(returned.ContentType.IsMimeType("text", "rfc822-headers"));
            var headers = Assert.IsType<TextRfc822Headers>(returned);
            Assert.Equal("quarterly report", headers.Message!.Subject);
            Assert.Equal("<original-1@example.org>", headers.Message!.Headers[HeaderId.MessageId]);
            Assert.DoesNotContain("Hello Bob", Encoding.ASCII.GetString(ReturnedBytes(headers)), StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Default_limit_returns_a_message_of_one_mebibyte_whole_and_a_larger_one_as_its_header()
    {
        Assert.Equal(1024 * 1024, new BounceOptions().MaxReturnedSize);
        var header = Encoding.ASCII.GetBytes("From: alice@example.org\r\nSubject: big\r\n\r\n");
        byte[] OfSize(int size) => [.. header, .. Enumerable.Repeat((byte)'a', size - header.Length - 2), (byte)'\r', (byte)'\n'];

        Assert.IsType<MessagePart>(ReturnedPart(NoticeKind.Failure, null, OfSize(1024 * 1024)));
        Assert.IsType<TextRfc822Headers>(ReturnedPart(NoticeKind.Failure, null, OfSize(1024 * 1024 + 1)));
    }

    [Fact]
    public void Whole_multipart_original_is_returned_byte_for_byte()
    {
        var original = Encoding.ASCII.GetBytes(
            "From: alice@example.org\r\n" +
            "To: bob@example.net\r\n" +
            "Subject: with attachment\r\n" +
            "MIME-Version: 1.0\r\n" +
            "Content-Type: multipart/mixed;\r\n boundary=\"b1\"\r\n" +
            "\r\n" +
            "preamble\r\n" +
            "--b1\r\n" +
            "Content-Type: text/plain\r\n" +
            "\r\n" +
            "text\r\n" +
            "--b1\r\n" +
            "Content-Type: application/octet-stream\r\n" +
            "Content-Transfer-Encoding: base64\r\n" +
            "\r\n" +
            "AAECAwQF\r\n" +
            "--b1--\r\n" +
            "epilogue\r\n");

        var part = Assert.IsType<MessagePart>(ReturnedPart(NoticeKind.Failure, "FULL", original));

        Assert.Equal(original, ReturnedBytes(part));
    }

    [Fact]
    public void Original_without_header_body_separator_is_returned_with_one_added()
    {
        var original = Encoding.ASCII.GetBytes("From: alice@example.org\r\nSubject: no separator\r\nthis line is body text, not a field\r\nmore body\r\n");

        var whole = Assert.IsType<MessagePart>(ReturnedPart(NoticeKind.Failure, "FULL", original));
        Assert.Equal("From: alice@example.org\r\nSubject: no separator\r\n\r\nthis line is body text, not a field\r\nmore body\r\n",
            Encoding.ASCII.GetString(ReturnedBytes(whole)));

        var headers = Assert.IsType<TextRfc822Headers>(ReturnedPart(NoticeKind.Failure, "HDRS", original));
        Assert.Equal(["From", "Subject"], headers.Message!.Headers.Select(h => h.Field));
    }

    [Fact]
    public void Original_with_bare_line_feeds_and_carriage_returns_comes_back_with_crlf()
    {
        var original = Encoding.ASCII.GetBytes("From: alice@example.org\nSubject: unix\n\nline one\nline two\rline three");

        var whole = Assert.IsType<MessagePart>(ReturnedPart(NoticeKind.Failure, "FULL", original));

        Assert.Equal("From: alice@example.org\r\nSubject: unix\r\n\r\nline one\r\nline two\r\nline three\r\n", Encoding.ASCII.GetString(ReturnedBytes(whole)));
    }

    [Fact]
    public void Eight_bit_body_is_returned_unchanged_and_declared_8bit()
    {
        var original = Encoding.Latin1.GetBytes("From: alice@example.org\r\nSubject: latin-1\r\n\r\nd\u00e9j\u00e0 vu, raw Latin-1 octets\r\n");

        var part = Assert.IsType<MessagePart>(ReturnedPart(NoticeKind.Failure, "FULL", original));

        Assert.True(part.ContentType.IsMimeType("message", "rfc822"));
        Assert.Equal("8bit", part.Headers[HeaderId.ContentTransferEncoding]);
        Assert.Equal(original, ReturnedBytes(part));
    }

    [Fact]
    public void Seven_bit_original_is_not_declared_8bit()
    {
        var part = Assert.IsType<MessagePart>(ReturnedPart(NoticeKind.Failure, "FULL"));
        Assert.False(part.Headers.Contains(HeaderId.ContentTransferEncoding));
    }

    [Fact]
    public void Utf8_header_original_is_returned_as_message_global_or_global_headers()
    {
        var original = Encoding.UTF8.GetBytes("From: J\u00f6rg <j\u00f6rg@b\u00fccher.example>\r\nSubject: Gr\u00fc\u00dfe\r\n\r\nHallo\r\n");

        var whole = Assert.IsType<MessagePart>(ReturnedPart(NoticeKind.Failure, "FULL", original));
        Assert.True(whole.ContentType.IsMimeType("message", "global"));
        Assert.Equal("8bit", whole.Headers[HeaderId.ContentTransferEncoding]);
        Assert.Equal(original, ReturnedBytes(whole));

        var headers = ReturnedPart(NoticeKind.Failure, "HDRS", original);
        Assert.True(headers.ContentType.IsMimeType("message", "global-headers"));
        Assert.Equal("8bit", headers.Headers[HeaderId.ContentTransferEncoding]);
    }

    [Theory]
    [InlineData("")]
    [InlineData("just a line of text, no header at all\r\n")]
    [InlineData("\r\nbody after an empty header\r\n")]
    [InlineData("Subject: header only, no body, no final line break")]
    public void Degenerate_originals_still_make_a_valid_report(string original)
    {
        var bytes = Encoding.ASCII.GetBytes(original);
        foreach (var ret in new[] { "FULL", "HDRS" })
        {
            var returned = ReturnedPart(NoticeKind.Failure, ret, bytes);
            Assert.IsAssignableFrom<MessagePart>(returned);
        }
    }
}
