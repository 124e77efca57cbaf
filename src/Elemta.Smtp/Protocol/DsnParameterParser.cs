using System.Buffers;
using System.Text;

namespace Elemta.Smtp.Protocol;

/// <summary>
/// Validates and decodes the parameters of the DSN extension (RFC 3461 §4): <c>RET</c> and <c>ENVID</c> on MAIL,
/// <c>NOTIFY</c> and <c>ORCPT</c> on RCPT. Each method returns the value to keep, or null when the value is not valid
/// (the session then answers <c>501 5.5.4</c>).
/// </summary>
internal static class DsnParameterParser
{
    /// <summary>RFC 3461 §4.4: an ENVID longer than 100 characters must be refused.</summary>
    public const int MaxEnvelopeId = 100;

    /// <summary>RFC 3461 §4.2: an ORCPT longer than 500 characters must be refused.</summary>
    public const int MaxOriginalRecipient = 500;

    private static readonly SearchValues<char> XChars = SearchValues.Create(
        "!\"#$%&'()*,-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~");

    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private static readonly SearchValues<char> AddressTypeChars = SearchValues.Create(
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-/=?^_`{|}~");

    /// <summary><c>RET=FULL</c> or <c>RET=HDRS</c> (RFC 3461 §4.3), case-insensitive; returns the upper-case keyword.</summary>
    public static string? ParseReturn(string? value) =>
        value is null ? null
        : value.Equals("FULL", StringComparison.OrdinalIgnoreCase) ? "FULL"
        : value.Equals("HDRS", StringComparison.OrdinalIgnoreCase) ? "HDRS"
        : null;

    /// <summary>
    /// <c>ENVID=xtext</c> (RFC 3461 §4.4), decoded. The decoded identifier must be printable US-ASCII, since it is
    /// copied into the <c>Original-Envelope-Id</c> field of a DSN.
    /// </summary>
    public static string? ParseEnvelopeId(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxEnvelopeId || !TryDecodeXtext(value, out var decoded))
        {
            return null;
        }

        foreach (var c in decoded)
        {
            if (c is < ' ' or > '~')
            {
                return null;
            }
        }

        return decoded;
    }

    /// <summary>
    /// <c>NOTIFY=NEVER</c>, or a comma-separated list of <c>SUCCESS</c>, <c>FAILURE</c> and <c>DELAY</c>, each at most
    /// once (RFC 3461 §4.1). Returns the list upper case, in the order given.
    /// </summary>
    public static string? ParseNotify(string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return null;
        }

        if (value.Equals("NEVER", StringComparison.OrdinalIgnoreCase))
        {
            return "NEVER";
        }

        var span = value.AsSpan();
        var seen = 0;
        foreach (var range in span.Split(','))
        {
            var flag = span[range] switch
            {
                var item when item.Equals("SUCCESS", StringComparison.OrdinalIgnoreCase) => 1,
                var item when item.Equals("FAILURE", StringComparison.OrdinalIgnoreCase) => 2,
                var item when item.Equals("DELAY", StringComparison.OrdinalIgnoreCase) => 4,
                // NEVER combined with anything else is explicitly invalid; so is an empty item or an unknown word.
                _ => 0,
            };
            if (flag == 0 || (seen & flag) != 0)
            {
                return null;
            }

            seen |= flag;
        }

        return value.ToUpperInvariant();
    }

    /// <summary>
    /// <c>ORCPT=addr-type;xtext</c> (RFC 3461 §4.2). Returns <c>addr-type;address</c> with the address decoded from
    /// xtext; the address type (an atom such as <c>rfc822</c>) is kept as given.
    /// </summary>
    public static string? ParseOriginalRecipient(string? value)
    {
        if (string.IsNullOrEmpty(value) || value.Length > MaxOriginalRecipient)
        {
            return null;
        }

        var semicolon = value.IndexOf(';', StringComparison.Ordinal);
        if (semicolon <= 0 || value.AsSpan(0, semicolon).ContainsAnyExcept(AddressTypeChars))
        {
            return null;
        }

        var encoded = value.AsSpan(semicolon + 1);
        if (encoded.IsEmpty || !TryDecodeXtext(encoded, out var address))
        {
            return null;
        }

        foreach (var c in address)
        {
            if (char.IsControl(c))
            {
                return null;
            }
        }

        return string.Concat(value.AsSpan(0, semicolon + 1), address);
    }

    /// <summary>
    /// Decodes xtext (RFC 3461 §4): <c>xchar</c> is printable US-ASCII except <c>+</c> and <c>=</c>, and
    /// <c>"+" 2HEXCHAR</c> (upper-case hex digits only) stands for one octet. Octets are read as UTF-8, so an
    /// internationalised address survives (RFC 6533 §3); a sequence that is not UTF-8 is refused.
    /// </summary>
    public static bool TryDecodeXtext(ReadOnlySpan<char> text, out string decoded)
    {
        decoded = string.Empty;
        if (!text.Contains('+'))
        {
            // The common case: no escapes, nothing to allocate but the result.
            if (text.ContainsAnyExcept(XChars))
            {
                return false;
            }

            decoded = text.ToString();
            return true;
        }

        Span<byte> octets = text.Length <= 256 ? stackalloc byte[text.Length] : new byte[text.Length];
        var count = 0;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c == '+')
            {
                if (i + 2 >= text.Length || !IsUpperHex(text[i + 1]) || !IsUpperHex(text[i + 2]))
                {
                    return false;
                }

                octets[count++] = (byte)((HexValue(text[i + 1]) << 4) | HexValue(text[i + 2]));
                i += 2;
            }
            else if (XChars.Contains(c))
            {
                octets[count++] = (byte)c;
            }
            else
            {
                return false;
            }
        }

        try
        {
            decoded = StrictUtf8.GetString(octets[..count]);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }

    private static bool IsUpperHex(char c) => char.IsAsciiDigit(c) || c is >= 'A' and <= 'F';

    private static int HexValue(char c) => c <= '9' ? c - '0' : c - 'A' + 10;
}
