using System.Buffers;
using System.Globalization;
using System.Text;

namespace Elemta.Bench.Load;

/// <summary>
/// Every byte the generator sends, built once before the first connection: the SMTP commands and the dot-stuffed
/// content with its terminating <c>.</c> line. Per message only the Message-ID's number changes, written in place.
/// </summary>
public sealed class MessageTemplate
{
    /// <summary>Digits of the message number in the Message-ID: enough for any <see cref="LoadOptions.Messages"/>.</summary>
    public const int MessageNumberDigits = 10;

    /// <summary>Characters of a full filler line before its CRLF: 78 octets per line, as RFC 5322 section 2.1.1 recommends.</summary>
    public const int FillerLineLength = 76;

    private readonly byte[] _wireContent;
    private readonly int _messageNumberOffset;

    /// <summary>Builds the commands and content for <paramref name="options"/>, dated now by <paramref name="timeProvider"/>.</summary>
    public MessageTemplate(LoadOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        Recipients = options.RecipientAddresses();
        Ehlo = Ascii($"EHLO {options.HeloName}\r\n");
        MailFrom = Ascii($"MAIL FROM:<{options.From}>\r\n");
        RcptTo = Recipients.Select(r => Ascii($"RCPT TO:<{r}>\r\n")).ToArray();

        var header = BuildHeader(options, timeProvider.GetUtcNow(), out var numberOffset);
        // The body is the same with or without prepended fields, so a signature made over the printed content holds.
        var bodyBudget = options.Size - header.Length;
        if (options.PrependPath is not null)
        {
            var prepended = File.ReadAllBytes(options.PrependPath);
            header = [.. prepended, .. header];
            numberOffset += prepended.Length;
        }

        var content = new ArrayBufferWriter<byte>(Math.Max(options.Size, header.Length) + 256);
        var wire = new ArrayBufferWriter<byte>(Math.Max(options.Size, header.Length) + 256);
        content.Write(header);
        wire.Write(header);
        foreach (var line in FillerLines(bodyBudget))
        {
            content.Write(line);
            // RFC 5321 section 4.5.2: a line that starts with "." gets one more, so no content line can end the data.
            if (line[0] == (byte)'.')
            {
                wire.Write("."u8);
            }

            wire.Write(line);
        }

        wire.Write(".\r\n"u8);
        Content = content.WrittenSpan.ToArray();
        _wireContent = wire.WrittenSpan.ToArray();
        _messageNumberOffset = numberOffset;
    }

    /// <summary><c>EHLO name</c>.</summary>
    public byte[] Ehlo { get; }

    /// <summary><c>MAIL FROM:&lt;sender&gt;</c>.</summary>
    public byte[] MailFrom { get; }

    /// <summary>One <c>RCPT TO:&lt;recipient&gt;</c> per recipient, in <see cref="Recipients"/> order.</summary>
    public IReadOnlyList<byte[]> RcptTo { get; }

    /// <summary>The recipients of every message.</summary>
    public IReadOnlyList<string> Recipients { get; }

    /// <summary><c>DATA</c>.</summary>
    public static ReadOnlyMemory<byte> Data { get; } = "DATA\r\n"u8.ToArray();

    /// <summary><c>RSET</c>, sent to abandon a transaction after a refused command.</summary>
    public static ReadOnlyMemory<byte> Rset { get; } = "RSET\r\n"u8.ToArray();

    /// <summary><c>QUIT</c>.</summary>
    public static ReadOnlyMemory<byte> Quit { get; } = "QUIT\r\n"u8.ToArray();

    /// <summary>
    /// The content of message 0 as the server should store it (not dot-stuffed, without the <c>.</c> line); other
    /// messages differ only in the Message-ID's number (see <see cref="ContentOf"/>).
    /// </summary>
    public ReadOnlyMemory<byte> Content { get; }

    /// <summary>The content of message <paramref name="messageNumber"/> as the server should store it.</summary>
    public byte[] ContentOf(int messageNumber)
    {
        var copy = Content.ToArray();
        WriteMessageNumber(copy, messageNumber);
        return copy;
    }

    /// <summary>A private copy of the dot-stuffed content ending in <c>.</c> CRLF, for one session to number and send.</summary>
    public byte[] NewWireBuffer() => (byte[])_wireContent.Clone();

    /// <summary>Writes <paramref name="messageNumber"/> into the Message-ID of a buffer from <see cref="NewWireBuffer"/>.</summary>
    public void WriteMessageNumber(byte[] wireBuffer, int messageNumber)
    {
        ArgumentNullException.ThrowIfNull(wireBuffer);
        var n = (uint)messageNumber;
        for (var i = _messageNumberOffset + MessageNumberDigits - 1; i >= _messageNumberOffset; i--)
        {
            wireBuffer[i] = (byte)('0' + (n % 10));
            n /= 10;
        }
    }

    private static byte[] BuildHeader(LoadOptions options, DateTimeOffset now, out int numberOffset)
    {
        var text = new StringBuilder();
        text.Append("From: <").Append(options.From).Append(">\r\n");
        // To: folded before an address that would pass 78 characters (RFC 5322 section 2.2.3).
        var addresses = options.RecipientAddresses();
        var line = new StringBuilder("To: ");
        for (var i = 0; i < addresses.Count; i++)
        {
            var item = addresses[i] + (i + 1 < addresses.Count ? "," : "");
            if (i > 0 && line.Length + 1 + item.Length > 78)
            {
                text.Append(line).Append("\r\n");
                line.Clear();
            }

            line.Append(i > 0 ? " " : "").Append(item);
        }

        text.Append(line).Append("\r\n");
        text.Append("Subject: Elemta load test message\r\n");
        text.Append("Date: ").Append(now.ToUniversalTime().ToString("ddd, dd MMM yyyy HH:mm:ss '+0000'", CultureInfo.InvariantCulture)).Append("\r\n");
        text.Append("Message-ID: <");
        numberOffset = text.Length;
        text.Append('0', MessageNumberDigits);
        text.Append('.').Append(Guid.NewGuid().ToString("N")[..12]).Append('@').Append(options.HeloName).Append(">\r\n");
        text.Append("MIME-Version: 1.0\r\n");
        text.Append("Content-Type: text/plain; charset=us-ascii\r\n");
        text.Append("\r\n");
        return Ascii(text.ToString());
    }

    // Filler lines, CRLF included, adding up to `remaining` octets (one more when only one octet is left, since the
    // shortest line is a bare CRLF). Some lines start with "." and one in sixteen is a lone "." to exercise the
    // server's dot-unstuffing, as real mail with quoted text and signatures does.
    private static IEnumerable<byte[]> FillerLines(int remaining)
    {
        const string Text = "The quick brown fox jumps over the lazy dog; Elemta's load generator fills this line.";
        for (var number = 1; remaining > 0; number++)
        {
            string body;
            if (number % 16 == 6 && remaining >= 3)
            {
                body = ".";
            }
            else
            {
                var length = Math.Max(0, Math.Min(FillerLineLength, remaining - 2));
                body = (number % 8 == 3 ? "." : "") + number.ToString("D5", CultureInfo.InvariantCulture) + " " + Text;
                body = body.Length > length ? body[..length] : body.PadRight(length, '-');
            }

            remaining -= body.Length + 2;
            yield return Ascii(body + "\r\n");
        }
    }

    private static byte[] Ascii(string text) => Encoding.ASCII.GetBytes(text);
}
