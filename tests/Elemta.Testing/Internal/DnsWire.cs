using System.Buffers.Binary;
using System.Text;

namespace Elemta.Testing.Internal;

/// <summary>A parsed DNS query: the parts of the request the server needs to answer it.</summary>
/// <param name="Id">The message ID to echo.</param>
/// <param name="Flags">The request's header flags (QR is clear).</param>
/// <param name="Name">The normalized question name.</param>
/// <param name="Type">The QTYPE.</param>
/// <param name="Class">The QCLASS.</param>
/// <param name="QuestionEnd">Offset just past the question section, which is copied verbatim into the response.</param>
/// <param name="EdnsPayloadSize">The requester's UDP payload size from its OPT record, or null without EDNS.</param>
/// <param name="DnssecOk">Whether the OPT record has the DO bit (RFC 3225): the requester wants DNSSEC answers.</param>
internal readonly record struct DnsQuery(
    ushort Id, ushort Flags, string Name, ushort Type, ushort Class, int QuestionEnd, int? EdnsPayloadSize, bool DnssecOk = false);

/// <summary>RFC 1035 section 4 wire format: bounds-checked parsing and simple writing.</summary>
internal static class DnsWire
{
    public const int HeaderLength = 12;
    public const int MaxNameLength = 255;
    public const ushort ClassIn = 1;
    public const ushort ClassAny = 255;

    public const ushort FlagResponse = 0x8000;
    public const ushort FlagAuthoritative = 0x0400;
    public const ushort FlagTruncated = 0x0200;
    public const ushort FlagRecursionDesired = 0x0100;
    public const ushort FlagAuthenticData = 0x0020;

    /// <summary>RFC 3225: the DO bit is the top bit of the 16 flag bits in the OPT record's TTL field.</summary>
    public const uint OptDnssecOk = 0x8000;

    public const int RcodeNoError = 0;
    public const int RcodeServerFailure = 2;
    public const int RcodeNameError = 3;
    public const int RcodeRefused = 5;

    /// <summary>
    /// Normalizes a zone name supplied by a test: trailing dot optional, ASCII case-insensitive
    /// (RFC 4343), so names are stored lower-cased without the trailing dot; the root is "".
    /// </summary>
    public static string NormalizeName(string name, string paramName)
    {
        ArgumentNullException.ThrowIfNull(name, paramName);
        var trimmed = name.EndsWith('.') ? name[..^1] : name;
        if (trimmed.Length == 0)
        {
            return string.Empty;
        }

        foreach (var label in trimmed.Split('.'))
        {
            // RFC 1035 section 2.3.4: labels are 1-63 octets. Letters, digits, '-' and '_' (RFC 8552 underscore
            // labels such as _dmarc) cover what mail needs; internationalized names must be given as A-labels.
            if (label.Length is 0 or > 63 || !label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_'))
            {
                throw new ArgumentException(
                    $"'{name}' is not a valid DNS name (labels of 1-63 ASCII letters, digits, '-' or '_').", paramName);
            }
        }

        if (trimmed.Length + 2 > MaxNameLength)
        {
            throw new ArgumentException($"'{name}' is longer than 255 octets in wire format.", paramName);
        }

        return trimmed.ToLowerInvariant();
    }

    /// <summary>Encodes a normalized name as uncompressed labels ending in the root label.</summary>
    public static byte[] EncodeName(string normalizedName)
    {
        if (normalizedName.Length == 0)
        {
            return [0];
        }

        var bytes = new byte[normalizedName.Length + 2];
        var position = 0;
        foreach (var label in normalizedName.Split('.'))
        {
            bytes[position++] = (byte)label.Length;
            position += Encoding.ASCII.GetBytes(label, bytes.AsSpan(position));
        }

        bytes[position] = 0;
        return bytes;
    }

    /// <summary>
    /// Parses the header, the question and any OPT record of a standard query (OPCODE 0, one question, as
    /// every resolver sends; RFC 9619). Returns false for anything else or anything malformed; such packets
    /// are dropped without a reply, so random bytes never draw an answer.
    /// </summary>
    public static bool TryParseQuery(ReadOnlySpan<byte> packet, out DnsQuery query)
    {
        query = default;
        if (packet.Length < HeaderLength)
        {
            return false;
        }

        var id = BinaryPrimitives.ReadUInt16BigEndian(packet);
        var flags = BinaryPrimitives.ReadUInt16BigEndian(packet[2..]);
        var questionCount = BinaryPrimitives.ReadUInt16BigEndian(packet[4..]);
        var answerCount = BinaryPrimitives.ReadUInt16BigEndian(packet[6..]);
        var authorityCount = BinaryPrimitives.ReadUInt16BigEndian(packet[8..]);
        var additionalCount = BinaryPrimitives.ReadUInt16BigEndian(packet[10..]);

        // QR set means a response, which must not be answered (that could loop between two servers).
        var opcode = (flags >> 11) & 0xF;
        if ((flags & FlagResponse) != 0 || opcode != 0 || questionCount != 1)
        {
            return false;
        }

        var offset = HeaderLength;
        if (!TryReadName(packet, ref offset, out var name) || offset + 4 > packet.Length)
        {
            return false;
        }

        var type = BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]);
        var @class = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]);
        offset += 4;
        var questionEnd = offset;

        for (var i = 0; i < answerCount + authorityCount; i++)
        {
            if (!TrySkipRecord(packet, ref offset, out _, out _, out _))
            {
                return false;
            }
        }

        int? ednsPayloadSize = null;
        var dnssecOk = false;
        for (var i = 0; i < additionalCount; i++)
        {
            if (!TrySkipRecord(packet, ref offset, out var recordType, out var recordClass, out var recordTtl))
            {
                return false;
            }

            // RFC 6891 section 6.1.2: OPT's CLASS field carries the requester's UDP payload size, its TTL the flags.
            if (recordType == (ushort)DnsRecordType.OPT)
            {
                ednsPayloadSize = recordClass;
                dnssecOk = (recordTtl & OptDnssecOk) != 0;
            }
        }

        query = new DnsQuery(id, flags, name, type, @class, questionEnd, ednsPayloadSize, dnssecOk);
        return true;
    }

    /// <summary>
    /// Reads a possibly compressed name (RFC 1035 section 4.1.4) as lower-case text without the trailing dot.
    /// Pointers must point backwards, which rules out loops; bytes that are not letters, digits, '-' or '_'
    /// are escaped as \DDD so that no wire name can alias a different zone name.
    /// </summary>
    public static bool TryReadName(ReadOnlySpan<byte> packet, ref int offset, out string name)
    {
        name = string.Empty;
        var text = new StringBuilder();
        var position = offset;
        var end = -1;
        var wireLength = 1;
        while (true)
        {
            if (position >= packet.Length)
            {
                return false;
            }

            var length = packet[position];
            switch (length & 0xC0)
            {
                case 0xC0:
                    if (position + 1 >= packet.Length)
                    {
                        return false;
                    }

                    var target = ((length & 0x3F) << 8) | packet[position + 1];
                    if (target >= position)
                    {
                        return false;
                    }

                    if (end < 0)
                    {
                        end = position + 2;
                    }

                    position = target;
                    continue;
                case 0x00:
                    break;
                default:
                    // 0x40 and 0x80 are reserved/obsolete label types (RFC 6891 section 5).
                    return false;
            }

            if (length == 0)
            {
                offset = end < 0 ? position + 1 : end;
                name = text.ToString();
                return true;
            }

            wireLength += length + 1;
            if (wireLength > MaxNameLength || position + 1 + length > packet.Length)
            {
                return false;
            }

            if (text.Length > 0)
            {
                text.Append('.');
            }

            foreach (var b in packet.Slice(position + 1, length))
            {
                var c = (char)b;
                if (char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
                {
                    text.Append(char.ToLowerInvariant(c));
                }
                else
                {
                    text.Append('\\').Append(b.ToString("D3"));
                }
            }

            position += 1 + length;
        }
    }

    private static bool TrySkipRecord(ReadOnlySpan<byte> packet, ref int offset, out ushort type, out ushort @class, out uint ttl)
    {
        type = 0;
        @class = 0;
        ttl = 0;
        if (!TryReadName(packet, ref offset, out _) || offset + 10 > packet.Length)
        {
            return false;
        }

        type = BinaryPrimitives.ReadUInt16BigEndian(packet[offset..]);
        @class = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 2)..]);
        ttl = BinaryPrimitives.ReadUInt32BigEndian(packet[(offset + 4)..]);
        var dataLength = BinaryPrimitives.ReadUInt16BigEndian(packet[(offset + 8)..]);
        offset += 10 + dataLength;
        return offset <= packet.Length;
    }
}

/// <summary>Appends big-endian DNS fields to a growable buffer.</summary>
internal sealed class DnsPacketWriter
{
    private readonly MemoryStream _buffer = new();

    public int Length => (int)_buffer.Length;

    public void WriteUInt16(int value)
    {
        Span<byte> bytes = stackalloc byte[2];
        BinaryPrimitives.WriteUInt16BigEndian(bytes, (ushort)value);
        _buffer.Write(bytes);
    }

    public void WriteUInt32(uint value)
    {
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        _buffer.Write(bytes);
    }

    public void WriteByte(byte value) => _buffer.WriteByte(value);

    public void WriteBytes(ReadOnlySpan<byte> bytes) => _buffer.Write(bytes);

    public byte[] ToArray() => _buffer.ToArray();
}
