using System.Text;

namespace Elemta.Smtp.Protocol;

/// <summary>How the header section of a message ends (RFC 5322 §2.1).</summary>
internal enum HeaderSectionEnd
{
    /// <summary>At the empty line that separates it from the body (the well-formed case).</summary>
    EmptyLine,

    /// <summary>At a line that is neither a header field nor a folded continuation: the body starts without the empty line.</summary>
    BodyLine,

    /// <summary>At the end of the content: the message is all header, with no body.</summary>
    EndOfContent,
}

/// <summary>What is wrong with a header section, if anything.</summary>
internal enum HeaderSectionDefect
{
    None,

    /// <summary>A line longer than 998 octets, not counting its line ending (RFC 5322 §2.1.1).</summary>
    LineTooLong,

    /// <summary>A NUL octet, which RFC 5322 §3.5 does not allow anywhere in a message's header.</summary>
    Nul,
}

/// <summary>
/// The header section of a message as the SMTP server sees it: where it ends, which of the fields RFC 5322 §3.6
/// requires are present, and whether it breaks a rule that makes the message unacceptable. Lines end at LF (with or
/// without the CR before it, so content received with BDAT can be read too).
/// </summary>
/// <param name="End">Offset just after the last header line (where missing fields are inserted).</param>
/// <param name="EndKind">What follows the header section.</param>
/// <param name="HasMessageId">A <c>Message-ID</c> field starts a line of the section.</param>
/// <param name="HasDate">A <c>Date</c> field starts a line of the section.</param>
/// <param name="Defect">The first rule the section breaks, or <see cref="HeaderSectionDefect.None"/>.</param>
internal readonly record struct HeaderSection(int End, HeaderSectionEnd EndKind, bool HasMessageId, bool HasDate, HeaderSectionDefect Defect)
{
    /// <summary>RFC 5322 §2.1.1: each line of a message is at most 998 characters, excluding the CRLF.</summary>
    public const int MaxLineLength = 998;

    /// <summary>Reads the header section at the start of <paramref name="message"/>.</summary>
    public static HeaderSection Parse(ReadOnlySpan<byte> message)
    {
        var hasMessageId = false;
        var hasDate = false;
        var inField = false;
        var position = 0;
        while (position < message.Length)
        {
            var rest = message[position..];
            var lf = rest.IndexOf((byte)'\n');
            var lineLength = lf < 0 ? rest.Length : lf + 1;
            var text = rest[..(lf < 0 ? rest.Length : lf)];
            if (text.Length > 0 && text[^1] == (byte)'\r')
            {
                text = text[..^1];
            }

            if (text.IsEmpty)
            {
                return new HeaderSection(position, HeaderSectionEnd.EmptyLine, hasMessageId, hasDate, HeaderSectionDefect.None);
            }

            if (text[0] is (byte)' ' or (byte)'\t')
            {
                // A folded continuation belongs to the field above it; without one it cannot be header.
                if (!inField)
                {
                    return new HeaderSection(position, HeaderSectionEnd.BodyLine, hasMessageId, hasDate, HeaderSectionDefect.None);
                }
            }
            else if (FieldName(text) is { IsEmpty: false } name)
            {
                // Only an unfolded line start names a field, so "X-Note: see Message-ID: <x>" or a folded
                // continuation that happens to read "Date:" does not count as the field itself.
                inField = true;
                hasMessageId |= Ascii.EqualsIgnoreCase(name, "Message-ID"u8);
                hasDate |= Ascii.EqualsIgnoreCase(name, "Date"u8);
            }
            else
            {
                return new HeaderSection(position, HeaderSectionEnd.BodyLine, hasMessageId, hasDate, HeaderSectionDefect.None);
            }

            if (text.Length > MaxLineLength)
            {
                return new HeaderSection(position, HeaderSectionEnd.BodyLine, hasMessageId, hasDate, HeaderSectionDefect.LineTooLong);
            }

            if (text.Contains((byte)0))
            {
                return new HeaderSection(position, HeaderSectionEnd.BodyLine, hasMessageId, hasDate, HeaderSectionDefect.Nul);
            }

            position += lineLength;
        }

        return new HeaderSection(position, HeaderSectionEnd.EndOfContent, hasMessageId, hasDate, HeaderSectionDefect.None);
    }

    /// <summary>
    /// The field name when <paramref name="line"/> starts a header field (RFC 5322 §3.6.8: printable US-ASCII except
    /// colon, then the colon; §4.5.3 obsolete syntax also allows white space before the colon); empty otherwise.
    /// </summary>
    private static ReadOnlySpan<byte> FieldName(ReadOnlySpan<byte> line)
    {
        var i = 0;
        while (i < line.Length && line[i] is >= 33 and <= 126 and not (byte)':')
        {
            i++;
        }

        var name = line[..i];
        while (i < line.Length && line[i] is (byte)' ' or (byte)'\t')
        {
            i++;
        }

        return !name.IsEmpty && i < line.Length && line[i] == (byte)':' ? name : [];
    }
}
