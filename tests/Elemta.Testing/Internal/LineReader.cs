namespace Elemta.Testing.Internal;

/// <summary>
/// Buffered reader that splits a byte stream into LF-terminated lines without decoding them,
/// so that message content can be kept byte-exact.
/// </summary>
/// <remarks>
/// Because one network read may carry several lines (SMTP PIPELINING, RFC 2920), lines are served
/// from the buffer until it is exhausted; only then is <c>beforeBlockingRead</c> invoked (to flush
/// pending replies) and the stream read again.
/// </remarks>
internal sealed class LineReader
{
    private readonly Stream _stream;
    private readonly Func<CancellationToken, ValueTask> _beforeBlockingRead;
    private readonly byte[] _buffer;
    private int _start;
    private int _end;

    public LineReader(Stream stream, Func<CancellationToken, ValueTask> beforeBlockingRead, int bufferSize = 16 * 1024)
    {
        _stream = stream;
        _beforeBlockingRead = beforeBlockingRead;
        _buffer = new byte[bufferSize];
    }

    /// <summary>
    /// Returns the bytes up to and including the next LF, or a partial line of <paramref name="maxLength"/>
    /// bytes (capped at the buffer size) when no LF comes first, or the unterminated remainder at end of
    /// stream, or <see langword="null"/> at end of stream. The memory is only valid until the next call.
    /// </summary>
    public async ValueTask<ReadOnlyMemory<byte>?> ReadLineAsync(int maxLength, CancellationToken cancellationToken)
    {
        var limit = Math.Min(maxLength, _buffer.Length);
        while (true)
        {
            var available = _end - _start;
            var newline = _buffer.AsSpan(_start, available).IndexOf((byte)'\n');
            if (newline >= 0 && newline < limit)
            {
                return Take(newline + 1);
            }

            if (available >= limit)
            {
                return Take(limit);
            }

            await _beforeBlockingRead(cancellationToken);

            // Compact so that the free space is at the end of the buffer.
            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, available);
                _start = 0;
                _end = available;
            }

            var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken);
            if (read == 0)
            {
                // Not a conditional expression: null would convert to an empty ReadOnlyMemory through byte[].
                if (available > 0)
                {
                    return Take(available);
                }

                return null;
            }

            _end += read;
        }
    }

    private ReadOnlyMemory<byte> Take(int count)
    {
        var line = new ReadOnlyMemory<byte>(_buffer, _start, count);
        _start += count;
        return line;
    }
}
