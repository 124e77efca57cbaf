using System.Buffers;
using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Elemta.Plugins.ClamAv;

/// <summary>What clamd said about one stream.</summary>
/// <param name="Kind">Clean, infected, or over clamd's StreamMaxLength.</param>
/// <param name="Virus">The signature's name when infected.</param>
internal readonly record struct ClamdVerdict(ClamdVerdictKind Kind, string? Virus);

/// <summary>The kinds of <see cref="ClamdVerdict"/>.</summary>
internal enum ClamdVerdictKind
{
    Clean,
    Infected,
    SizeLimitExceeded,
}

/// <summary>
/// clamd's <c>INSTREAM</c> command (clamd(8)): <c>zINSTREAM\0</c>, then the data in chunks each preceded by its length
/// as 4 bytes in network order, then a zero length; the reply is one NUL-terminated line, <c>stream: OK</c>,
/// <c>stream: &lt;name&gt; FOUND</c> or <c>&lt;reason&gt; ERROR</c>. One connection per scan, as clamd serves them.
/// </summary>
internal static class ClamdClient
{
    private const int ChunkSize = 64 * 1024;
    private const int MaxReply = 4096;

    /// <summary>Scans <paramref name="content"/>; a failure to connect, a broken connection or an ERROR reply (other than the size limit) throws.</summary>
    public static async Task<ClamdVerdict> ScanAsync(EndPoint endPoint, string address, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        using var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(endPoint, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            throw new IOException($"clamd at {address} is not reachable: {ex.Message}", ex);
        }

        await using var stream = new NetworkStream(socket, ownsSocket: false);
        try
        {
            await SendAsync(stream, content, cancellationToken).ConfigureAwait(false);
        }
        catch (IOException)
        {
            // clamd answers "INSTREAM size limit exceeded" and closes the connection as soon as the stream passes its
            // StreamMaxLength, while the rest is still being sent: its reply is read before the write error counts.
            var early = await ReadReplyAsync(stream, address, cancellationToken).ConfigureAwait(false);
            if (early.Length == 0)
            {
                throw;
            }

            return Interpret(early, address);
        }

        var reply = await ReadReplyAsync(stream, address, cancellationToken).ConfigureAwait(false);
        return reply.Length == 0
            ? throw new IOException($"clamd at {address} closed the connection without a reply.")
            : Interpret(reply, address);
    }

    private static async Task SendAsync(NetworkStream stream, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        await stream.WriteAsync("zINSTREAM\0"u8.ToArray(), cancellationToken).ConfigureAwait(false);
        var buffer = ArrayPool<byte>.Shared.Rent(4 + ChunkSize);
        try
        {
            for (var offset = 0; offset < content.Length; offset += ChunkSize)
            {
                var chunk = content.Slice(offset, Math.Min(ChunkSize, content.Length - offset));
                // The length and its chunk in one write, so each chunk costs one segment rather than two.
                BinaryPrimitives.WriteUInt32BigEndian(buffer, (uint)chunk.Length);
                chunk.Span.CopyTo(buffer.AsSpan(4));
                await stream.WriteAsync(buffer.AsMemory(0, 4 + chunk.Length), cancellationToken).ConfigureAwait(false);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }

        await stream.WriteAsync(new byte[4], cancellationToken).ConfigureAwait(false);
        await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Reads up to the NUL that ends clamd's reply (or the end of the connection); empty when there was nothing to read.</summary>
    private static async Task<string> ReadReplyAsync(NetworkStream stream, string address, CancellationToken cancellationToken)
    {
        var reply = new byte[MaxReply];
        var length = 0;
        while (length < reply.Length)
        {
            int read;
            try
            {
                read = await stream.ReadAsync(reply.AsMemory(length), cancellationToken).ConfigureAwait(false);
            }
            catch (IOException) when (length == 0)
            {
                return string.Empty;
            }

            if (read == 0)
            {
                break;
            }

            var nul = Array.IndexOf(reply, (byte)0, length, read);
            length += read;
            if (nul >= 0)
            {
                length = nul;
                break;
            }
        }

        if (length == reply.Length)
        {
            throw new InvalidDataException($"clamd at {address} answered more than {MaxReply} bytes without ending its reply.");
        }

        return Encoding.ASCII.GetString(reply, 0, length).Trim();
    }

    private static ClamdVerdict Interpret(string reply, string address)
    {
        const string Prefix = "stream: ";
        if (reply == Prefix + "OK")
        {
            return new ClamdVerdict(ClamdVerdictKind.Clean, null);
        }

        if (reply.StartsWith(Prefix, StringComparison.Ordinal) && reply.EndsWith(" FOUND", StringComparison.Ordinal))
        {
            return new ClamdVerdict(ClamdVerdictKind.Infected, reply[Prefix.Length..^" FOUND".Length].Trim());
        }

        if (reply.Contains("size limit exceeded", StringComparison.OrdinalIgnoreCase))
        {
            return new ClamdVerdict(ClamdVerdictKind.SizeLimitExceeded, null);
        }

        throw reply.EndsWith("ERROR", StringComparison.Ordinal)
            ? new IOException($"clamd at {address} could not scan the message: {reply}")
            : new InvalidDataException($"clamd at {address} answered something that is not an INSTREAM reply: {reply}");
    }
}
