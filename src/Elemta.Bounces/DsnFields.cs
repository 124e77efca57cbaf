using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Elemta.Bounces;

/// <summary>
/// Values of the fields of <c>message/delivery-status</c> (RFC 3464 §2). That part is 7-bit, so every value is made
/// ASCII here: addresses with the <c>utf-8</c> address type in its 7-bit form (RFC 6533 §3), other text with the same
/// <c>\x{HEX}</c> escapes, control characters as spaces.
/// </summary>
internal static partial class DsnFields
{
    /// <summary>Longest header line RFC 5322 §2.1.1 recommends; lines are folded at a space before it.</summary>
    private const int FoldAt = 78;

    /// <summary>A word longer than this is broken so no line exceeds the 998-octet limit.</summary>
    private const int LongestWord = 900;

    [GeneratedRegex(@"^([245])[0-9]{2}(?:[ -]([245])\.([0-9]{1,3})\.([0-9]{1,3})(?=[ \t\r\n]|$))?", RegexOptions.CultureInvariant)]
    private static partial Regex ReplyCode();

    [GeneratedRegex(@"^[245]\.[0-9]{1,3}\.[0-9]{1,3}$", RegexOptions.CultureInvariant)]
    private static partial Regex StatusCode();

    /// <summary>Whether <paramref name="status"/> has the form <c>class.subject.detail</c> (RFC 3463).</summary>
    public static bool IsStatus(string status) => StatusCode().IsMatch(status);

    /// <summary>
    /// The status code for a recipient: the reply's enhanced code (RFC 2034) when its class agrees with the reply code,
    /// else the reply code's class with <c>.0.0</c>, else what <paramref name="action"/> implies.
    /// </summary>
    public static string Status(string reply, RecipientAction action)
    {
        var match = ReplyCode().Match(reply.TrimStart());
        if (match.Success)
        {
            var replyClass = match.Groups[1].Value;
            return match.Groups[2].Success && match.Groups[2].Value == replyClass
                ? $"{replyClass}.{int.Parse(match.Groups[3].Value, CultureInfo.InvariantCulture)}.{int.Parse(match.Groups[4].Value, CultureInfo.InvariantCulture)}"
                : $"{replyClass}.0.0";
        }

        return action switch
        {
            RecipientAction.Failed => "5.0.0",
            RecipientAction.Delayed => "4.0.0",
            _ => "2.0.0",
        };
    }

    /// <summary>The action's name in the <c>Action</c> field.</summary>
    public static string ActionName(RecipientAction action) => action switch
    {
        RecipientAction.Failed => "failed",
        RecipientAction.Delayed => "delayed",
        RecipientAction.Delivered => "delivered",
        RecipientAction.Relayed => "relayed",
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "Unknown recipient action."),
    };

    /// <summary><c>rfc822; addr</c>, or <c>utf-8; addr</c> in 7-bit form for an address that is not plain ASCII (RFC 6533 §3).</summary>
    public static string TypedAddress(string address) =>
        IsPrintableAscii(address) ? $"rfc822; {address}" : $"utf-8; {Utf8AddressXtext(address, escapeAscii: true)}";

    /// <summary>
    /// The <c>Original-Recipient</c> value from ORCPT (<c>addr-type;address</c>, xtext already decoded): as given when
    /// it is printable ASCII; an <c>rfc822</c> or <c>utf-8</c> address with other characters in the 7-bit <c>utf-8</c>
    /// form; null (field left out) for anything else.
    /// </summary>
    public static string? OriginalRecipient(string orcpt)
    {
        var semicolon = orcpt.IndexOf(';', StringComparison.Ordinal);
        if (semicolon <= 0)
        {
            return null;
        }

        if (IsPrintableAscii(orcpt))
        {
            return orcpt;
        }

        var type = orcpt[..semicolon].Trim();
        var address = orcpt[(semicolon + 1)..].Trim();
        if (address.Length == 0)
        {
            return null;
        }

        // A utf-8 ORCPT may already carry \x{…} escapes (its xtext form), so only what is not ASCII is escaped there;
        // an rfc822 one holding non-ASCII text is really a utf-8 address and is escaped whole.
        return type.ToUpperInvariant() switch
        {
            "UTF-8" => $"utf-8;{Utf8AddressXtext(address, escapeAscii: false)}",
            "RFC822" => $"utf-8;{Utf8AddressXtext(address, escapeAscii: true)}",
            _ => null,
        };
    }

    /// <summary>
    /// The <c>utf-8-addr-xtext</c> form (RFC 6533 §3): printable ASCII stays except <c>+</c>, <c>=</c> and <c>\</c>;
    /// everything else becomes <c>\x{HEX}</c>, the code point in upper-case hex.
    /// </summary>
    public static string Utf8AddressXtext(string address, bool escapeAscii)
    {
        var builder = new StringBuilder(address.Length + 16);
        foreach (var rune in address.EnumerateRunes())
        {
            var value = rune.Value;
            var plain = value is > 0x20 and < 0x7F && (!escapeAscii || value is not ('+' or '=' or '\\'));
            if (plain)
            {
                builder.Append((char)value);
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{{{value:X2}}}");
            }
        }

        return builder.ToString();
    }

    /// <summary>Free text (a reply, a host name, an envelope id) as one line of ASCII: line breaks and controls become spaces, other characters <c>\x{HEX}</c>.</summary>
    public static string Text(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var rune in value.EnumerateRunes())
        {
            var v = rune.Value;
            if (v is >= 0x20 and < 0x7F)
            {
                builder.Append((char)v);
            }
            else if (v is < 0x20 or 0x7F)
            {
                builder.Append(' ');
            }
            else
            {
                builder.Append(CultureInfo.InvariantCulture, $"\\x{{{v:X2}}}");
            }
        }

        return string.Join(' ', builder.ToString().Split(' ', StringSplitOptions.RemoveEmptyEntries));
    }

    /// <summary>
    /// The raw value of a header field named <paramref name="name"/> (leading space, CRLF at the end), folded at spaces
    /// so lines stay within 78 characters where the words allow and always within 998 octets.
    /// </summary>
    public static byte[] RawValue(string name, string value)
    {
        var builder = new StringBuilder(value.Length + 8);
        var lineLength = name.Length + 1;
        var first = true;
        foreach (var word in SplitLongWords(value.Split(' ', StringSplitOptions.RemoveEmptyEntries)))
        {
            if (!first && lineLength + 1 + word.Length > FoldAt)
            {
                builder.Append("\r\n");
                lineLength = 0;
            }

            builder.Append(' ').Append(word);
            lineLength += 1 + word.Length;
            first = false;
        }

        builder.Append("\r\n");
        return Encoding.ASCII.GetBytes(builder.ToString());
    }

    /// <summary>Whether every character is printable US-ASCII or a space.</summary>
    public static bool IsPrintableAscii(string value) => value.All(c => c is >= ' ' and < '\x7F');

    private static IEnumerable<string> SplitLongWords(IEnumerable<string> words)
    {
        foreach (var word in words)
        {
            for (var i = 0; i < word.Length; i += LongestWord)
            {
                yield return word.Substring(i, Math.Min(LongestWord, word.Length - i));
            }
        }
    }
}
