using System.Security.Cryptography;

namespace Elemta.MailAuth.Dkim;

/// <summary>
/// DKIM body canonicalization (RFC 6376 §3.4.3 simple, §3.4.4 relaxed) over the stored bytes, hashed as it goes: the
/// body hash <c>bh=</c> is compared with, and the canonical length <c>l=</c> counts. Bare LF counts as a line end (as
/// MimeKit and dkimpy read such mail), each line end is written as CRLF.
/// </summary>
/// <remarks>
/// Written by hand for the same reason as <see cref="DkimHeaderFields"/>: the verifier checks signatures with .NET's
/// RSA (OpenSSL) because MimeKit's verifier uses BouncyCastle's managed RSA, 16× slower, so the data to hash is
/// built here rather than by MimeKit; hashing the stored bytes also spares the MimeKit parse.
/// </remarks>
internal static class DkimBodyCanonicalization
{
    private const int BufferSize = 4096;

    /// <summary>The canonical length of <paramref name="body"/>.</summary>
    /// <param name="body">The raw body, after the blank line that ends the header.</param>
    /// <param name="relaxed">Relaxed (whitespace runs to one space, trailing whitespace dropped), or simple.</param>
    public static long Length(ReadOnlySpan<byte> body, bool relaxed)
    {
        var sink = new Sink(null, 0, []);
        Canonicalize(body, relaxed, ref sink);
        return sink.Total;
    }

    /// <summary>
    /// The SHA-256 of the canonical body, or of its first <paramref name="limit"/> octets (<c>l=</c>); returns the
    /// whole canonical length, which may be more or less than the limit.
    /// </summary>
    /// <param name="body">The raw body.</param>
    /// <param name="relaxed">Relaxed or simple.</param>
    /// <param name="limit">How many canonical octets are hashed (<c>l=</c>), or null for all.</param>
    /// <param name="hash">Receives the 32-octet digest.</param>
    public static long Sha256(ReadOnlySpan<byte> body, bool relaxed, long? limit, Span<byte> hash)
    {
        using var hasher = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        // Pieces are gathered in a buffer so the hash is fed a few large blocks, not two or three calls per line.
        Span<byte> buffer = stackalloc byte[BufferSize];
        var sink = new Sink(hasher, limit ?? long.MaxValue, buffer);
        Canonicalize(body, relaxed, ref sink);
        sink.Flush();
        hasher.GetHashAndReset(hash);
        return sink.Total;
    }

    private static void Canonicalize(ReadOnlySpan<byte> body, bool relaxed, ref Sink sink)
    {
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

            if (relaxed)
            {
                // Whitespace at the end of the line is dropped, not reduced.
                line = line.TrimEnd(" \t"u8);
            }

            if (line.IsEmpty)
            {
                // Empty lines count only when something follows them: trailing ones are removed (both algorithms).
                pendingEmptyLines++;
                continue;
            }

            for (; pendingEmptyLines > 0; pendingEmptyLines--)
            {
                sink.Write("\r\n"u8);
            }

            if (relaxed)
            {
                WriteRelaxed(line, ref sink);
            }
            else
            {
                sink.Write(line);
            }

            sink.Write("\r\n"u8);
            any = true;
        }

        if (!any && !relaxed)
        {
            // Simple turns an empty body into one CRLF; relaxed leaves it empty (§3.4.3, §3.4.4).
            sink.Write("\r\n"u8);
        }
    }

    /// <summary>A line with no trailing whitespace, every run of SP and HTAB written as one SP.</summary>
    private static void WriteRelaxed(ReadOnlySpan<byte> line, ref Sink sink)
    {
        while (!line.IsEmpty)
        {
            var space = line.IndexOfAny((byte)' ', (byte)'\t');
            if (space < 0)
            {
                sink.Write(line);
                return;
            }

            sink.Write(line[..space]);
            sink.Write(" "u8);
            line = line[space..].TrimStart(" \t"u8);
        }
    }

    /// <summary>Counts what is written and hashes the first <c>limit</c> octets of it through a buffer.</summary>
    private ref struct Sink(IncrementalHash? hash, long limit, Span<byte> buffer)
    {
        private readonly Span<byte> _buffer = buffer;
        private int _used;

        public long Total { get; private set; }

        public void Write(ReadOnlySpan<byte> data)
        {
            if (hash is not null && Total < limit)
            {
                var take = data[..(int)Math.Min(data.Length, limit - Total)];
                while (!take.IsEmpty)
                {
                    var n = Math.Min(take.Length, _buffer.Length - _used);
                    take[..n].CopyTo(_buffer[_used..]);
                    _used += n;
                    take = take[n..];
                    if (_used == _buffer.Length)
                    {
                        Flush();
                    }
                }
            }

            Total += data.Length;
        }

        public void Flush()
        {
            if (_used > 0)
            {
                hash!.AppendData(_buffer[.._used]);
                _used = 0;
            }
        }
    }
}
