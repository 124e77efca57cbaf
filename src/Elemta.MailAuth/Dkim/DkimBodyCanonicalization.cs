namespace Elemta.MailAuth.Dkim;

/// <summary>
/// The length of a body after DKIM body canonicalization (RFC 6376 §3.4.3, §3.4.4), which is what <c>l=</c> counts:
/// used to see whether a signature with <c>l=</c> leaves content after its length unsigned.
/// </summary>
internal static class DkimBodyCanonicalization
{
    /// <summary>The canonical length of <paramref name="body"/>; bare LF counts as a line end, as MimeKit reads it.</summary>
    /// <param name="body">The raw body, after the blank line that ends the header.</param>
    /// <param name="relaxed">Relaxed (whitespace runs to one space, trailing whitespace dropped), or simple.</param>
    public static long Length(ReadOnlySpan<byte> body, bool relaxed)
    {
        long total = 0;
        long pendingEmptyLines = 0;
        var any = false;
        while (!body.IsEmpty)
        {
            var end = body.IndexOf((byte)'\n');
            ReadOnlySpan<byte> line;
            if (end < 0)
            {
                line = body;
                body = [];
            }
            else
            {
                line = body[..end];
                body = body[(end + 1)..];
            }

            if (line.Length > 0 && line[^1] == '\r')
            {
                line = line[..^1];
            }

            var length = relaxed ? RelaxedLineLength(line) : line.Length;
            if (length == 0)
            {
                // Empty lines count only when something follows them: trailing ones are removed (both algorithms).
                pendingEmptyLines++;
                continue;
            }

            total += pendingEmptyLines * 2 + length + 2;
            pendingEmptyLines = 0;
            any = true;
        }

        // Simple turns an empty body into one CRLF; relaxed leaves it empty (§3.4.3, §3.4.4).
        return any ? total : relaxed ? 0 : 2;
    }

    private static long RelaxedLineLength(ReadOnlySpan<byte> line)
    {
        long length = 0;
        var inSpace = false;
        foreach (var b in line)
        {
            if (b is (byte)' ' or (byte)'\t')
            {
                inSpace = true;
                continue;
            }

            if (inSpace)
            {
                length++;
                inSpace = false;
            }

            length++;
        }

        // Whitespace at the end of the line is dropped, not reduced.
        return length;
    }
}
