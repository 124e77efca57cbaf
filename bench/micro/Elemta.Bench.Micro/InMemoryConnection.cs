using System.Buffers;
using System.IO.Pipelines;

namespace Elemta.Bench.Micro;

/// <summary>
/// The server's end of an in-memory connection: a <see cref="Stream"/> that reads what the client wrote and writes
/// where the client reads. The session wraps it in its own pipes exactly as it wraps a <c>NetworkStream</c>, so
/// the benchmark measures the session's code and not the kernel's socket path (which varies with the other load on
/// the machine).
/// </summary>
internal sealed class ServerTransport(PipeReader fromClient, PipeWriter toClient) : Stream
{
    public override bool CanRead => true;

    public override bool CanSeek => false;

    public override bool CanWrite => true;

    public override long Length => throw new NotSupportedException();

    public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

    public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        while (true)
        {
            var read = await fromClient.ReadAsync(cancellationToken).ConfigureAwait(false);
            var available = read.Buffer;
            if (!available.IsEmpty)
            {
                var count = (int)Math.Min(available.Length, buffer.Length);
                available.Slice(0, count).CopyTo(buffer.Span);
                fromClient.AdvanceTo(available.GetPosition(count));
                return count;
            }

            fromClient.AdvanceTo(available.End);
            if (read.IsCompleted || read.IsCanceled)
            {
                return 0;
            }
        }
    }

    public override async ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
        await toClient.WriteAsync(buffer, cancellationToken).ConfigureAwait(false);

    public override Task<int> ReadAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        ReadAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task WriteAsync(byte[] buffer, int offset, int count, CancellationToken cancellationToken) =>
        WriteAsync(buffer.AsMemory(offset, count), cancellationToken).AsTask();

    public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public override void Flush()
    {
    }

    public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException("The session reads asynchronously.");

    public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException("The session writes asynchronously.");

    public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

    public override void SetLength(long value) => throw new NotSupportedException();
}

/// <summary>
/// The client's end: sends prepared command batches and waits for the replies, checking each reply's class so that
/// a benchmark can never measure an error path by mistake. It reads replies without decoding them to strings, so
/// its own cost stays small beside the server's.
/// </summary>
internal sealed class ScriptedClient(PipeReader fromServer, PipeWriter toServer)
{
    public async ValueTask SendAsync(ReadOnlyMemory<byte> octets)
    {
        await toServer.WriteAsync(octets).ConfigureAwait(false);
    }

    /// <summary>Waits for one complete (possibly multi-line) reply per character of <paramref name="classes"/>, each starting with that digit.</summary>
    public async ValueTask ExpectAsync(string classes)
    {
        var next = 0;
        while (next < classes.Length)
        {
            var read = await fromServer.ReadAsync().ConfigureAwait(false);
            var buffer = read.Buffer;
            while (next < classes.Length && buffer.PositionOf((byte)'\n') is { } lf)
            {
                var line = buffer.Slice(0, lf);
                var (replyClass, final) = ReplyHead(line);
                if (final)
                {
                    if (replyClass != (byte)classes[next])
                    {
                        throw new InvalidOperationException($"Expected a {classes[next]}xx reply, got {System.Text.Encoding.ASCII.GetString(line.ToArray())}");
                    }

                    next++;
                }

                buffer = buffer.Slice(buffer.GetPosition(1, lf));
            }

            fromServer.AdvanceTo(buffer.Start, buffer.End);
            if (next < classes.Length && read.IsCompleted)
            {
                throw new InvalidOperationException("The server closed the connection before replying.");
            }
        }
    }

    /// <summary>The reply's first digit, and whether the line is its last (a space, not a hyphen, after the code).</summary>
    private static (byte Class, bool Final) ReplyHead(ReadOnlySequence<byte> line)
    {
        if (line.Length < 4)
        {
            throw new InvalidOperationException("Reply line too short.");
        }

        Span<byte> head = stackalloc byte[4];
        line.Slice(0, 4).CopyTo(head);
        return (head[0], head[3] == (byte)' ');
    }
}
