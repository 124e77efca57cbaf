namespace Elemta.Bounces;

/// <summary>
/// The original message prepared for return inside a notice: line endings made CRLF (a notice must be valid even
/// when the original was not), its header section found the way RFC 5322 §2.1 defines it, and its 8-bit parts noted.
/// </summary>
internal sealed class ReturnedOriginal
{
    private ReturnedOriginal(byte[] message, int headerLength, bool headerIs8Bit, bool is8Bit)
    {
        Message = message;
        HeaderLength = headerLength;
        HeaderIs8Bit = headerIs8Bit;
        Is8Bit = is8Bit;
    }

    /// <summary>The whole message, CRLF line endings, with an empty line between header and body.</summary>
    public byte[] Message { get; }

    /// <summary>Octets of <see cref="Message"/> that are header fields (each ending in CRLF), without the empty line.</summary>
    public int HeaderLength { get; }

    /// <summary>The header section holds octets above 127: UTF-8 headers (RFC 6532) or raw 8-bit text.</summary>
    public bool HeaderIs8Bit { get; }

    /// <summary>Any octet of the message is above 127.</summary>
    public bool Is8Bit { get; }

    /// <summary>The header fields alone.</summary>
    public ReadOnlyMemory<byte> Header => Message.AsMemory(0, HeaderLength);

    /// <summary>Prepares <paramref name="content"/>: CRLF line endings, and an empty line after the header if it had none.</summary>
    public static ReturnedOriginal From(ReadOnlySpan<byte> content)
    {
        var normalized = ToCrlf(content);
        var headerLength = HeaderSectionLength(normalized, out var hasSeparator);
        byte[] message;
        if (hasSeparator)
        {
            message = normalized;
        }
        else
        {
            // The first line that is not a header field started the body; the empty line that should precede it is added.
            message = new byte[normalized.Length + 2];
            normalized.AsSpan(0, headerLength).CopyTo(message);
            message[headerLength] = (byte)'\r';
            message[headerLength + 1] = (byte)'\n';
            normalized.AsSpan(headerLength).CopyTo(message.AsSpan(headerLength + 2));
        }

        return new ReturnedOriginal(message, headerLength, Has8Bit(message.AsSpan(0, headerLength)), Has8Bit(message));
    }

    /// <summary>Bare LF and bare CR become CRLF; a last line without an ending gets one.</summary>
    internal static byte[] ToCrlf(ReadOnlySpan<byte> content)
    {
        if (IsCrlfOnly(content))
        {
            // The usual case: the front-end refuses bare CR and LF, so stored content needs no copy-and-fix pass.
            return content.ToArray();
        }

        var output = new List<byte>(content.Length + 64);
        for (var i = 0; i < content.Length; i++)
        {
            var b = content[i];
            if (b == '\r')
            {
                if (i + 1 < content.Length && content[i + 1] == '\n')
                {
                    i++;
                }

                output.Add((byte)'\r');
                output.Add((byte)'\n');
            }
            else if (b == '\n')
            {
                output.Add((byte)'\r');
                output.Add((byte)'\n');
            }
            else
            {
                output.Add(b);
            }
        }

        if (output.Count > 0 && output[^1] != '\n')
        {
            output.Add((byte)'\r');
            output.Add((byte)'\n');
        }

        return [.. output];
    }

    /// <summary>
    /// Length of the header fields at the start of <paramref name="message"/> (CRLF-normalized): field lines
    /// (<c>name:</c>, RFC 5322 §3.6.8) and their folded continuations, up to an empty line or the first other line.
    /// </summary>
    private static int HeaderSectionLength(byte[] message, out bool hasSeparator)
    {
        var position = 0;
        var inField = false;
        while (position < message.Length)
        {
            var end = message.AsSpan(position).IndexOf("\r\n"u8);
            var line = message.AsSpan(position, end);
            if (line.IsEmpty)
            {
                hasSeparator = true;
                return position;
            }

            var continuation = inField && (line[0] == ' ' || line[0] == '\t');
            if (!continuation && !IsFieldLine(line))
            {
                break;
            }

            inField = true;
            position += end + 2;
        }

        hasSeparator = false;
        return position;
    }

    /// <summary>A field name of printable ASCII other than colon, optional spaces (obsolete syntax), then a colon.</summary>
    private static bool IsFieldLine(ReadOnlySpan<byte> line)
    {
        var i = 0;
        while (i < line.Length && line[i] is >= 33 and <= 126 and not (byte)':')
        {
            i++;
        }

        if (i == 0)
        {
            return false;
        }

        while (i < line.Length && line[i] is (byte)' ' or (byte)'\t')
        {
            i++;
        }

        return i < line.Length && line[i] == ':';
    }

    private static bool IsCrlfOnly(ReadOnlySpan<byte> content)
    {
        if (content.IsEmpty)
        {
            return true;
        }

        if (content.Length < 2 || content[^2] != '\r' || content[^1] != '\n')
        {
            return false;
        }

        var position = 0;
        while (true)
        {
            var next = content[position..].IndexOfAny((byte)'\r', (byte)'\n');
            if (next < 0)
            {
                return true;
            }

            position += next;
            if (content[position] == '\n' || position + 1 >= content.Length || content[position + 1] != '\n')
            {
                return false;
            }

            position += 2;
        }
    }

    private static bool Has8Bit(ReadOnlySpan<byte> bytes) => bytes.IndexOfAnyInRange((byte)0x80, (byte)0xFF) >= 0;
}
