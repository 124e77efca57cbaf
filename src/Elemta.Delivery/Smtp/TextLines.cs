namespace Elemta.Delivery.Smtp;

/// <summary>Line lengths in stored content, for what a next hop will take.</summary>
internal static class TextLines
{
    /// <summary>RFC 5321 §4.5.3.1.6: the longest text line every SMTP server must accept, without the CRLF.</summary>
    public const int MaxRelayLineLength = 998;

    /// <summary>
    /// Whether any line of <paramref name="content"/> is longer than <paramref name="max"/> octets, not counting its
    /// line ending. One vectorised search per line: for ordinary mail this is a few microseconds per message.
    /// </summary>
    public static bool AnyLongerThan(ReadOnlySpan<byte> content, int max)
    {
        while (content.Length > max)
        {
            var lf = content.IndexOf((byte)'\n');
            if (lf < 0)
            {
                return true;
            }

            var length = lf > 0 && content[lf - 1] == (byte)'\r' ? lf - 1 : lf;
            if (length > max)
            {
                return true;
            }

            content = content[(lf + 1)..];
        }

        return false;
    }
}
