using System.Buffers;

namespace Elemta.Smtp.Server;

/// <summary>
/// The content of one message being received, in an array rented from <see cref="ArrayPool{T}.Shared"/>: a session
/// receiving message after message reuses the same few arrays instead of allocating (and, past 85 KB, promoting to
/// the large object heap) a new doubling series for every message.
/// </summary>
/// <remarks>
/// Whoever reads <see cref="WrittenMemory"/> must be done with it before <see cref="Dispose"/> returns the array, since
/// the pool hands it to the next message at once: the session disposes the buffer only after the acceptor's
/// <c>AcceptAsync</c> has completed, which for the stores means after the commit. Not thread-safe (one session).
/// </remarks>
internal sealed class MessageBuffer : IBufferWriter<byte>, IDisposable
{
    /// <summary>The first array when the client declared no size: a typical short message and its trace header.</summary>
    internal const int DefaultCapacity = 4 * 1024;

    /// <summary>
    /// The largest first array a declared <c>SIZE=</c> obtains. SIZE is the client's word, so it must not let a client
    /// make the server hold MaxMessageSize per connection before sending a byte; bigger messages grow from here.
    /// </summary>
    internal const int MaxPresizedCapacity = 1024 * 1024;

    private readonly ArrayPool<byte> _pool;
    private byte[] _array;
    private int _written;
    private bool _disposed;

    /// <summary>Rents a first array of at least <paramref name="capacity"/> octets (clamped to 1..<see cref="MaxPresizedCapacity"/>).</summary>
    public MessageBuffer(long capacity, ArrayPool<byte>? pool = null)
    {
        _pool = pool ?? ArrayPool<byte>.Shared;
        _array = _pool.Rent((int)Math.Clamp(capacity, 1, MaxPresizedCapacity));
    }

    /// <summary>Octets written so far.</summary>
    public int WrittenCount => _written;

    /// <summary>The size of the array in use (the pool may round up what was asked for).</summary>
    public int Capacity => _array.Length;

    /// <summary>The content written so far; valid until the next write or <see cref="Dispose"/>.</summary>
    public ReadOnlySpan<byte> WrittenSpan => _array.AsSpan(0, _written);

    /// <summary>The content written so far, backed by the rented array; valid until the next write or <see cref="Dispose"/>.</summary>
    public ReadOnlyMemory<byte> WrittenMemory => _array.AsMemory(0, _written);

    /// <inheritdoc />
    public void Advance(int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (count > _array.Length - _written)
        {
            throw new InvalidOperationException("Cannot advance past the end of the buffer.");
        }

        _written += count;
    }

    /// <inheritdoc />
    public Memory<byte> GetMemory(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _array.AsMemory(_written);
    }

    /// <inheritdoc />
    public Span<byte> GetSpan(int sizeHint = 0)
    {
        Reserve(sizeHint);
        return _array.AsSpan(_written);
    }

    /// <summary>Appends <paramref name="data"/>.</summary>
    public void Write(ReadOnlySpan<byte> data)
    {
        data.CopyTo(GetSpan(data.Length));
        _written += data.Length;
    }

    /// <summary>
    /// Inserts <paramref name="insert"/> at <paramref name="offset"/> of the written content, shifting what follows:
    /// a copy of the tail, but no second buffer of the message's size.
    /// </summary>
    public void Insert(int offset, ReadOnlySpan<byte> insert)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset, _written);
        Reserve(insert.Length);
        var span = _array.AsSpan();
        span[offset.._written].CopyTo(span[(offset + insert.Length)..]);
        insert.CopyTo(span[offset..]);
        _written += insert.Length;
    }

    /// <summary>Removes <paramref name="count"/> octets at <paramref name="offset"/>, shifting what follows back.</summary>
    public void Remove(int offset, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(offset);
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(offset + count, _written);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var span = _array.AsSpan();
        span[(offset + count).._written].CopyTo(span[offset..]);
        _written -= count;
    }

    /// <summary>Returns the array to the pool; nothing written may be read afterwards. Safe to call twice.</summary>
    public void Dispose()
    {
        if (_disposed)
        {
            // A second Return of the same array would hand it to two renters at once.
            return;
        }

        _disposed = true;
        var array = _array;
        _array = [];
        _written = 0;
        _pool.Return(array);
    }

    /// <summary>Makes room for <paramref name="sizeHint"/> more octets (at least one), moving to a larger rented array if needed.</summary>
    private void Reserve(int sizeHint)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(sizeHint);
        ObjectDisposedException.ThrowIf(_disposed, this);
        var needed = (long)_written + Math.Max(sizeHint, 1);
        if (needed <= _array.Length)
        {
            return;
        }

        // Doubling keeps the number of moves logarithmic in the message size; every array comes from the pool.
        var capacity = Math.Max(needed, Math.Min((long)_array.Length * 2, Array.MaxLength));
        if (capacity > Array.MaxLength)
        {
            throw new InvalidOperationException("A message cannot exceed the largest array.");
        }

        var larger = _pool.Rent((int)capacity);
        _array.AsSpan(0, _written).CopyTo(larger);
        var old = _array;
        _array = larger;
        _pool.Return(old);
    }
}
