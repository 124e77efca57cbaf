using System.Buffers;
using System.Globalization;
using System.Text;

namespace Elemta.Delivery.Local;

/// <summary>One reply of an SMTP-family server: the code, and the text of each line (without the code).</summary>
internal readonly record struct LmtpReply(int Code, IReadOnlyList<string> Lines)
{
    /// <summary>The lines joined by spaces, for a one-line reply in the queue's records.</summary>
    public string Text => string.Join(' ', Lines.Where(l => l.Length > 0));

    public bool IsPositive => Code is >= 200 and < 300;

    public bool IsPermanent => Code is >= 500 and < 600;

    public override string ToString() => string.Create(CultureInfo.InvariantCulture, $"{Code} {Text}").Trim();
}

/// <summary>The server broke the protocol (a malformed or oversized reply) or closed the connection.</summary>
internal sealed class LmtpProtocolException(string message) : IOException(message);

/// <summary>The server did not answer within the command timeout.</summary>
internal sealed class LmtpTimeoutException(string message) : IOException(message);

/// <summary>
/// The wire side of an LMTP client (RFC 2033): writes command lines and message data, reads replies. Every read and
/// write is bounded by the command timeout; the caller's token cancels as usual.
/// </summary>
internal sealed class LmtpSession(Stream stream, TimeSpan commandTimeout, TimeProvider timeProvider)
{
    /// <summary>When MAIL FROM was sent: the end of connection setup (connect, greeting, LHLO); null until then.</summary>
    public DateTimeOffset? TransferStartedAt { get; set; }

    /// <summary>Longest reply line accepted; RFC 5321 §4.5.3.1.5 sets 512, real servers stay far below this.</summary>
    private const int MaxLineLength = 4096;

    /// <summary>Most lines in one reply (LHLO replies are the longest, with one line per extension).</summary>
    private const int MaxReplyLines = 100;

    private readonly byte[] _buffer = new byte[8192];
    private int _start;
    private int _end;

    /// <summary>Writes command lines (each without CRLF) in one write: one line, or a PIPELINING group (RFC 2920).</summary>
    public Task WriteCommandsAsync(IEnumerable<string> commands, CancellationToken cancellationToken)
    {
        var text = new StringBuilder();
        foreach (var command in commands)
        {
            text.Append(command).Append("\r\n");
        }

        return WriteAsync(Encoding.UTF8.GetBytes(text.ToString()), "command", cancellationToken);
    }

    /// <summary>
    /// Writes the message after a 354: line ends as CRLF (a lone CR or LF becomes CRLF, so the server cannot read a
    /// different end of data than the one sent), a dot doubled at the start of each line (RFC 5321 §4.5.2), a final
    /// CRLF when the content lacks one, and the terminating <c>.</c>.
    /// </summary>
    public Task WriteDataAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var span = content.Span;
        var output = new ArrayBufferWriter<byte>(content.Length + (content.Length / 64) + 5);
        var lineStart = true;
        var runStart = 0;
        for (var i = 0; i < span.Length; i++)
        {
            var b = span[i];
            if (lineStart && b == (byte)'.')
            {
                output.Write(span[runStart..i]);
                output.Write("."u8);
                runStart = i;
            }

            lineStart = false;
            if (b == (byte)'\r' && i + 1 < span.Length && span[i + 1] == (byte)'\n')
            {
                continue;
            }

            if (b is (byte)'\r' or (byte)'\n')
            {
                var endsWithCrlf = b == (byte)'\n' && i > 0 && span[i - 1] == (byte)'\r';
                if (!endsWithCrlf)
                {
                    output.Write(span[runStart..i]);
                    output.Write("\r\n"u8);
                    runStart = i + 1;
                }

                lineStart = true;
            }
        }

        output.Write(span[runStart..]);
        output.Write(lineStart ? ".\r\n"u8 : "\r\n.\r\n"u8);
        return WriteAsync(output.WrittenMemory, "message data", cancellationToken);
    }

    /// <summary>Reads one complete reply, following continuation lines (<c>250-…</c>).</summary>
    public async Task<LmtpReply> ReadReplyAsync(CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(commandTimeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            var lines = new List<string>();
            while (true)
            {
                var line = await ReadLineAsync(linked.Token).ConfigureAwait(false);
                if (line.Length < 3 || !int.TryParse(line.AsSpan(0, 3), NumberStyles.None, CultureInfo.InvariantCulture, out var code) || code < 200
                    || (line.Length > 3 && line[3] is not (' ' or '-')))
                {
                    throw new LmtpProtocolException($"malformed reply line '{Truncate(line)}'");
                }

                lines.Add(line.Length > 4 ? line[4..].Trim() : string.Empty);
                if (line.Length == 3 || line[3] == ' ')
                {
                    return new LmtpReply(code, lines);
                }

                if (lines.Count == MaxReplyLines)
                {
                    throw new LmtpProtocolException($"reply longer than {MaxReplyLines} lines");
                }
            }
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new LmtpTimeoutException($"no reply within {commandTimeout}");
        }
    }

    /// <summary>The extensions an LHLO reply offers (its lines after the first), by keyword in upper case.</summary>
    public static HashSet<string> Extensions(LmtpReply lhlo) =>
        lhlo.Lines.Skip(1).Select(l => l.Split(' ', 2)[0].ToUpperInvariant()).ToHashSet(StringComparer.Ordinal);

    private async Task WriteAsync(ReadOnlyMemory<byte> bytes, string what, CancellationToken cancellationToken)
    {
        using var timeout = new CancellationTokenSource(commandTimeout, timeProvider);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        try
        {
            await stream.WriteAsync(bytes, linked.Token).ConfigureAwait(false);
            await stream.FlushAsync(linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            throw new LmtpTimeoutException($"{what} not taken within {commandTimeout}");
        }
    }

    private async Task<string> ReadLineAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (newline >= 0)
            {
                var length = newline - _start;
                if (length > 0 && _buffer[newline - 1] == (byte)'\r')
                {
                    length--;
                }

                var line = Encoding.UTF8.GetString(_buffer, _start, length);
                _start = newline + 1;
                return line;
            }

            if (_end - _start >= MaxLineLength)
            {
                throw new LmtpProtocolException($"reply line longer than {MaxLineLength} octets");
            }

            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            var read = await stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
            if (read == 0)
            {
                throw new LmtpProtocolException("the server closed the connection");
            }

            _end += read;
        }
    }

    private static string Truncate(string line) => line.Length <= 80 ? line : line[..80] + "…";
}
