using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Text;

namespace Elemta.Bench.Load;

/// <summary>
/// Reads SMTP replies (RFC 5321 section 4.2) from a socket into one reused buffer, yielding only the reply code: the
/// generator needs nothing else, and the text is decoded only when a reply is reported as an error.
/// </summary>
internal sealed class SmtpReplyReader
{
    private Socket? _socket;
    private byte[] _buffer = new byte[2048];
    private int _start;   // first byte of the reply being read
    private int _scanned; // bytes from _start already searched for line ends
    private int _end;     // end of received bytes
    private int _lastReplyStart;
    private int _lastReplyEnd;

    /// <summary>Starts reading from a new connection, keeping the buffer (one per session, not per connection).</summary>
    public void Reset(Socket socket)
    {
        _socket = socket;
        _start = _scanned = _end = _lastReplyStart = _lastReplyEnd = 0;
    }

    /// <summary>
    /// Reads one complete reply, multi-line (<c>250-…</c> lines up to the final <c>250 …</c>) or not, and returns its
    /// code.
    /// </summary>
    /// <exception cref="IOException">The server closed the connection or sent something that is not a reply.</exception>
    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder<>))]
    public async ValueTask<int> ReadReplyAsync(CancellationToken cancellationToken)
    {
        var lineStart = _start;
        while (true)
        {
            var newline = _buffer.AsSpan(_start + _scanned, _end - _start - _scanned).IndexOf((byte)'\n');
            if (newline < 0)
            {
                _scanned = _end - _start;
                lineStart -= _start;
                await ReceiveAsync(cancellationToken);
                lineStart += _start;
                continue;
            }

            var lineEnd = _start + _scanned + newline + 1;
            _scanned = lineEnd - _start;
            var line = _buffer.AsSpan(lineStart, lineEnd - lineStart);
            if (line.Length < 4 || !char.IsAsciiDigit((char)line[0]) || !char.IsAsciiDigit((char)line[1])
                || !char.IsAsciiDigit((char)line[2]) || line[3] is not ((byte)' ' or (byte)'-' or (byte)'\r' or (byte)'\n'))
            {
                throw new IOException($"Not an SMTP reply line: '{Encoding.ASCII.GetString(line).TrimEnd()}'.");
            }

            if (line[3] == (byte)'-')
            {
                lineStart = lineEnd;
                continue;
            }

            _lastReplyStart = _start;
            _lastReplyEnd = lineEnd;
            _start = lineEnd;
            _scanned = 0;
            return ((line[0] - '0') * 100) + ((line[1] - '0') * 10) + (line[2] - '0');
        }
    }

    /// <summary>The text of the last reply read, its lines joined by " / " (for error reports).</summary>
    public string LastReply =>
        string.Join(" / ", Encoding.ASCII.GetString(_buffer, _lastReplyStart, _lastReplyEnd - _lastReplyStart)
            .Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));

    [AsyncMethodBuilder(typeof(PoolingAsyncValueTaskMethodBuilder))]
    private async ValueTask ReceiveAsync(CancellationToken cancellationToken)
    {
        // Unread bytes move to the front (a reply seldom spans two reads); a reply longer than the buffer grows it.
        if (_start > 0)
        {
            _buffer.AsSpan(_start, _end - _start).CopyTo(_buffer);
            _end -= _start;
            _start = 0;
            _lastReplyStart = _lastReplyEnd = 0;
        }

        if (_end == _buffer.Length)
        {
            if (_buffer.Length >= 1024 * 1024)
            {
                throw new IOException("SMTP reply longer than 1 MiB.");
            }

            Array.Resize(ref _buffer, _buffer.Length * 2);
        }

        var received = await _socket!.ReceiveAsync(_buffer.AsMemory(_end), SocketFlags.None, cancellationToken);
        if (received == 0)
        {
            throw new IOException("The server closed the connection.");
        }

        _end += received;
    }
}
