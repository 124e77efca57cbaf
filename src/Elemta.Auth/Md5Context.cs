using System.Buffers.Binary;
using System.Numerics;

namespace Elemta.Auth;

/// <summary>
/// The MD5 compression function (RFC 1321 §3.4) over an explicit chaining value. .NET's MD5 cannot resume from a
/// stored intermediate state, which is what CRAM-MD5's precomputed HMAC contexts are, so this computes it directly.
/// Used only for CRAM-MD5, whose protocol fixes the algorithm; nothing else in Elemta relies on MD5.
/// </summary>
internal static class Md5Context
{
    public const int BlockSize = 64;
    public const int StateSize = 16;

    private static readonly uint[] Sines = CreateSines();

    private static readonly int[] Shifts =
    [
        7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
        5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
        4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
        6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
    ];

    /// <summary>The initial chaining value (RFC 1321 §3.3), as 16 octets.</summary>
    public static byte[] Initial()
    {
        var state = new byte[StateSize];
        Write(state, [0x67452301u, 0xefcdab89u, 0x98badcfeu, 0x10325476u]);
        return state;
    }

    /// <summary>The chaining value after one more 64-octet block.</summary>
    public static byte[] Compress(ReadOnlySpan<byte> state, ReadOnlySpan<byte> block)
    {
        Span<uint> words = stackalloc uint[4];
        Read(state, words);
        Transform(words, block);
        var result = new byte[StateSize];
        Write(result, words);
        return result;
    }

    /// <summary>
    /// Finishes an MD5 computation that has already absorbed <paramref name="processed"/> octets (whole blocks) into
    /// <paramref name="state"/>: absorbs <paramref name="data"/>, pads (RFC 1321 §3.1–3.2) and returns the digest.
    /// </summary>
    public static byte[] Finish(ReadOnlySpan<byte> state, long processed, ReadOnlySpan<byte> data)
    {
        Span<uint> words = stackalloc uint[4];
        Read(state, words);
        var total = processed + data.Length;
        var whole = data.Length / BlockSize * BlockSize;
        for (var offset = 0; offset < whole; offset += BlockSize)
        {
            Transform(words, data.Slice(offset, BlockSize));
        }

        var rest = data[whole..];
        Span<byte> tail = stackalloc byte[BlockSize * 2];
        tail.Clear();
        rest.CopyTo(tail);
        tail[rest.Length] = 0x80;
        var tailLength = rest.Length + 1 + 8 <= BlockSize ? BlockSize : BlockSize * 2;
        BinaryPrimitives.WriteUInt64LittleEndian(tail.Slice(tailLength - 8, 8), (ulong)total * 8);
        for (var offset = 0; offset < tailLength; offset += BlockSize)
        {
            Transform(words, tail.Slice(offset, BlockSize));
        }

        var digest = new byte[StateSize];
        Write(digest, words);
        return digest;
    }

    private static void Transform(Span<uint> state, ReadOnlySpan<byte> block)
    {
        Span<uint> m = stackalloc uint[16];
        for (var i = 0; i < 16; i++)
        {
            m[i] = BinaryPrimitives.ReadUInt32LittleEndian(block.Slice(i * 4, 4));
        }

        uint a = state[0], b = state[1], c = state[2], d = state[3];
        for (var i = 0; i < 64; i++)
        {
            uint f;
            int g;
            switch (i / 16)
            {
                case 0:
                    f = (b & c) | (~b & d);
                    g = i;
                    break;
                case 1:
                    f = (b & d) | (c & ~d);
                    g = ((5 * i) + 1) % 16;
                    break;
                case 2:
                    f = b ^ c ^ d;
                    g = ((3 * i) + 5) % 16;
                    break;
                default:
                    f = c ^ (b | ~d);
                    g = 7 * i % 16;
                    break;
            }

            var next = d;
            d = c;
            c = b;
            b += BitOperations.RotateLeft(a + f + Sines[i] + m[g], Shifts[i]);
            a = next;
        }

        state[0] += a;
        state[1] += b;
        state[2] += c;
        state[3] += d;
    }

    private static uint[] CreateSines()
    {
        // RFC 1321 §3.4: T[i] is the integer part of 2^32 × |sin(i)|, i in radians from 1 to 64.
        var table = new uint[64];
        for (var i = 0; i < table.Length; i++)
        {
            table[i] = (uint)Math.Floor(Math.Abs(Math.Sin(i + 1)) * 4294967296.0);
        }

        return table;
    }

    private static void Read(ReadOnlySpan<byte> bytes, Span<uint> words)
    {
        if (bytes.Length != StateSize)
        {
            throw new ArgumentException("An MD5 state is 16 octets.", nameof(bytes));
        }

        for (var i = 0; i < 4; i++)
        {
            words[i] = BinaryPrimitives.ReadUInt32LittleEndian(bytes.Slice(i * 4, 4));
        }
    }

    private static void Write(Span<byte> bytes, ReadOnlySpan<uint> words)
    {
        for (var i = 0; i < 4; i++)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(bytes.Slice(i * 4, 4), words[i]);
        }
    }
}
