using System.Text;

namespace Elemta.Bench.Micro;

/// <summary>
/// The messages the benchmarks send and store: a plain header section (with Message-ID and Date, so the session
/// inserts nothing) and a body of 76-character text lines, every tenth starting with a dot so that DATA has
/// dot-stuffing to undo, as mail quoting code or signatures does.
/// </summary>
public static class SampleMessages
{
    /// <summary>1 KiB, a typical notification or short personal message.</summary>
    public const int Small = 1024;

    /// <summary>100 KiB, a message with a small attachment; also past the 85,000-octet large-object-heap threshold.</summary>
    public const int Large = 100 * 1024;

    /// <summary>The message content as the receiver stores it (no dot-stuffing), about <paramref name="size"/> octets, ending with CRLF.</summary>
    public static byte[] Content(int size)
    {
        var text = new StringBuilder(size + 128);
        text.Append("From: Alice <alice@example.org>\r\n")
            .Append("To: Bob <bob@example.net>\r\n")
            .Append("Subject: Quarterly figures\r\n")
            .Append("Date: Tue, 14 Apr 2026 09:30:00 +0000\r\n")
            .Append("Message-ID: <20260414093000.4711@example.org>\r\n")
            .Append("MIME-Version: 1.0\r\n")
            .Append("Content-Type: text/plain; charset=utf-8\r\n")
            .Append("\r\n");
        var line = 0;
        while (text.Length < size)
        {
            // 74 characters and CRLF: well under the 1000-octet line limit, like quoted-printable or base64 bodies.
            var filler = line % 10 == 9 ? ".." : "> ";
            var remaining = size - text.Length;
            var body = new string((char)('a' + (line % 26)), Math.Max(0, Math.Min(72, remaining - 4)));
            text.Append(filler).Append(body).Append("\r\n");
            line++;
        }

        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>The content as a client sends it after DATA: dot-stuffed (RFC 5321 §4.5.2) and ended by <c>.&lt;CRLF&gt;</c>.</summary>
    public static byte[] DataPhase(byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        var stuffed = new List<byte>(content.Length + 256);
        var atLineStart = true;
        foreach (var octet in content)
        {
            if (atLineStart && octet == (byte)'.')
            {
                stuffed.Add((byte)'.');
            }

            stuffed.Add(octet);
            atLineStart = octet == (byte)'\n';
        }

        stuffed.AddRange(".\r\n"u8.ToArray());
        return [.. stuffed];
    }
}
