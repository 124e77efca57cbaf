using System.Globalization;
using System.Net;

namespace Elemta.Smtp.Protocol;

/// <summary>A parsed MAIL FROM or RCPT TO argument: the path and its ESMTP parameters.</summary>
/// <param name="Mailbox">The mailbox (<c>local@domain</c>); empty for the null reverse-path <c>&lt;&gt;</c>.</param>
/// <param name="Domain">The domain part (lower case), empty for the null path.</param>
/// <param name="Parameters">ESMTP parameters (RFC 5321 §4.1.2 Mail-parameters), keys upper case; a keyword without value maps to null.</param>
internal sealed record SmtpPath(string Mailbox, string Domain, IReadOnlyDictionary<string, string?> Parameters);

/// <summary>
/// Parses <c>Reverse-path</c> / <c>Forward-path</c> and their parameters per RFC 5321 §4.1.2, with UTF-8 in
/// local parts and domains allowed as RFC 6531 extends the grammar.
/// </summary>
internal static class SmtpPathParser
{
    private const int MaxLocalPart = 64;   // RFC 5321 §4.5.3.1.1
    private const int MaxDomain = 255;     // RFC 5321 §4.5.3.1.2
    private const int MaxPath = 256;       // RFC 5321 §4.5.3.1.3, including the angle brackets
    private const int MaxLabel = 63;

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    /// <summary>Parses the text after <c>FROM:</c> or <c>TO:</c>. Returns null with a reason when it is not valid.</summary>
    public static SmtpPath? Parse(string text, bool allowNull, out string? error)
    {
        error = null;
        var s = text.AsSpan().TrimStart(' ');
        if (s.Length == 0 || s[0] != '<')
        {
            error = "address must be enclosed in <>";
            return null;
        }

        // Find the closing '>' outside a quoted string.
        var inQuotes = false;
        var close = -1;
        for (var i = 1; i < s.Length; i++)
        {
            var c = s[i];
            if (inQuotes && c == '\\')
            {
                i++;
                continue;
            }

            if (c == '"')
            {
                inQuotes = !inQuotes;
            }
            else if (c == '>' && !inQuotes)
            {
                close = i;
                break;
            }
        }

        if (close < 0)
        {
            error = "missing closing >";
            return null;
        }

        var path = s[1..close];
        var parameters = ParseParameters(s[(close + 1)..], out error);
        if (parameters is null)
        {
            return null;
        }

        if (path.Length == 0)
        {
            if (!allowNull)
            {
                error = "empty address not allowed here";
                return null;
            }

            return new SmtpPath(string.Empty, string.Empty, parameters);
        }

        // RFC 5321 §4.1.2: a source route (A-d-l ":", e.g. @a,@b:) must be accepted and ignored, but it must be one.
        if (path[0] == '@')
        {
            var colon = path.IndexOf(':');
            if (colon < 0 || !IsSourceRoute(path[..colon]))
            {
                error = "malformed source route";
                return null;
            }

            path = path[(colon + 1)..];
        }

        return TryParseMailbox(path, out var mailbox, out var domain, out error)
            ? new SmtpPath(mailbox, domain, parameters)
            : null;
    }

    /// <summary>Validates <c>Mailbox = Local-part "@" ( Domain / address-literal )</c>.</summary>
    public static bool TryParseMailbox(ReadOnlySpan<char> mailbox, out string normalized, out string domain, out string? error)
    {
        normalized = string.Empty;
        domain = string.Empty;
        var at = mailbox.LastIndexOf('@');
        if (at <= 0 || at == mailbox.Length - 1)
        {
            error = "address must be local-part@domain";
            return false;
        }

        // The path is counted without a source route: the route is discarded, the mailbox is what is kept.
        if (System.Text.Encoding.UTF8.GetByteCount(mailbox) + 2 > MaxPath)
        {
            error = "address longer than 254 octets";
            return false;
        }

        var local = mailbox[..at];
        var domainPart = mailbox[(at + 1)..];
        if (!IsValidLocalPart(local, out error) || !IsValidDomainOrLiteral(domainPart, out error))
        {
            return false;
        }

        normalized = mailbox.ToString();
        domain = domainPart.ToString().ToLowerInvariant();
        return true;
    }

    private static bool IsValidLocalPart(ReadOnlySpan<char> local, out string? error)
    {
        error = null;
        if (System.Text.Encoding.UTF8.GetByteCount(local) > MaxLocalPart)
        {
            error = "local part longer than 64 octets";
            return false;
        }

        if (local[0] == '"')
        {
            // Quoted-string: qtextSMTP or quoted-pairSMTP (backslash + printable ASCII).
            if (local.Length < 2 || local[^1] != '"')
            {
                error = "unterminated quoted local part";
                return false;
            }

            for (var i = 1; i < local.Length - 1; i++)
            {
                var c = local[i];
                if (c == '\\')
                {
                    if (++i >= local.Length - 1 || local[i] < 32 || local[i] > 126)
                    {
                        error = "bad quoted pair in local part";
                        return false;
                    }
                }
                else if (c == '"' || (c < 32) || c == 127)
                {
                    error = "invalid character in quoted local part";
                    return false;
                }
            }

            return true;
        }

        // Dot-string: atoms separated by single dots.
        var atomLength = 0;
        foreach (var c in local)
        {
            if (c == '.')
            {
                if (atomLength == 0)
                {
                    error = "empty atom in local part";
                    return false;
                }

                atomLength = 0;
            }
            else if (IsAtext(c))
            {
                atomLength++;
            }
            else
            {
                error = $"invalid character '{c}' in local part";
                return false;
            }
        }

        if (atomLength == 0)
        {
            error = "local part ends with a dot";
            return false;
        }

        return true;
    }

    private static bool IsValidDomainOrLiteral(ReadOnlySpan<char> domain, out string? error)
    {
        error = null;
        if (domain[0] == '[')
        {
            if (domain[^1] != ']')
            {
                error = "unterminated address literal";
                return false;
            }

            // address-literal (RFC 5321 §4.1.3): IPv4 or "IPv6:" only. General-address-literal needs a tag registered
            // with IANA, and IPv6 is the only one; RFC 5322 domain literals such as [example] are not SMTP.
            var literal = domain[1..^1];
            if (literal.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase) ? IsIPv6Literal(literal[5..]) : IsDottedQuad(literal))
            {
                return true;
            }

            error = "invalid address literal";
            return false;
        }

        return IsValidDomain(domain, out error);
    }

    /// <summary>
    /// <c>Domain = sub-domain *("." sub-domain)</c>, <c>sub-domain = Let-dig [Ldh-str]</c> or a U-label (RFC 6531).
    /// No trailing dot: the grammar has no root label.
    /// </summary>
    private static bool IsValidDomain(ReadOnlySpan<char> domain, out string? error)
    {
        error = null;
        if (System.Text.Encoding.UTF8.GetByteCount(domain) > MaxDomain)
        {
            error = "domain longer than 255 octets";
            return false;
        }

        foreach (var range in domain.Split('.'))
        {
            var label = domain[range];
            if (label.Length == 0 || label.Length > MaxLabel || label[0] == '-' || label[^1] == '-')
            {
                error = "invalid domain";
                return false;
            }

            foreach (var c in label)
            {
                if (!(char.IsAsciiLetterOrDigit(c) || c == '-' || c >= 0x80))
                {
                    error = $"invalid character '{c}' in domain";
                    return false;
                }
            }
        }

        return true;
    }

    /// <summary><c>A-d-l = At-domain *( "," At-domain )</c>, <c>At-domain = "@" Domain</c>.</summary>
    private static bool IsSourceRoute(ReadOnlySpan<char> route)
    {
        foreach (var range in route.Split(','))
        {
            var hop = route[range];
            if (hop.Length < 2 || hop[0] != '@' || !IsValidDomain(hop[1..], out _))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>
    /// <c>IPv6-addr</c> of RFC 5321 §4.1.3, stricter than <see cref="IPAddress.TryParse(string?, out IPAddress?)"/>: eight
    /// groups, or at most six around a "::" (which stands for at least two groups), and with an IPv4 tail six groups, or
    /// at most four around a "::". No zone index, no "::" for a single group.
    /// </summary>
    private static bool IsIPv6Literal(ReadOnlySpan<char> text)
    {
        var lastColon = text.LastIndexOf(':');
        if (lastColon < 0)
        {
            return false;
        }

        ReadOnlySpan<char> hex;
        int full, compressedMax;
        if (text[(lastColon + 1)..].Contains('.'))
        {
            if (!IsDottedQuad(text[(lastColon + 1)..]))
            {
                return false;
            }

            // Keep a "::" that ends right before the IPv4 part; otherwise drop the colon that separates them.
            hex = lastColon > 0 && text[lastColon - 1] == ':' ? text[..(lastColon + 1)] : text[..lastColon];
            (full, compressedMax) = (6, 4);
        }
        else
        {
            hex = text;
            (full, compressedMax) = (8, 6);
        }

        var elision = hex.IndexOf("::", StringComparison.Ordinal);
        if (elision < 0)
        {
            return CountHexGroups(hex) == full;
        }

        var before = CountHexGroups(hex[..elision]);
        var after = CountHexGroups(hex[(elision + 2)..]);
        return before >= 0 && after >= 0 && before + after <= compressedMax;
    }

    /// <summary>The number of <c>1*4HEXDIG</c> groups separated by single colons; 0 for empty text, -1 when malformed.</summary>
    private static int CountHexGroups(ReadOnlySpan<char> text)
    {
        if (text.IsEmpty)
        {
            return 0;
        }

        var groups = 0;
        foreach (var range in text.Split(':'))
        {
            var group = text[range];
            if (group.Length is 0 or > 4 || group.ContainsAnyExcept(HexDigits))
            {
                return -1;
            }

            groups++;
        }

        return groups;
    }

    private static bool IsDottedQuad(ReadOnlySpan<char> text)
    {
        var parts = 0;
        foreach (var range in text.Split('.'))
        {
            var part = text[range];
            if (++parts > 4 || part.Length is 0 or > 3 || !int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value > 255)
            {
                return false;
            }
        }

        return parts == 4;
    }

    // RFC 5322 atext, plus any non-ASCII character (RFC 6532 UTF8-non-ascii) for SMTPUTF8.
    private static bool IsAtext(char c) =>
        char.IsAsciiLetterOrDigit(c) || c >= 0x80 || "!#$%&'*+-/=?^_`{|}~".Contains(c, StringComparison.Ordinal);

    private static Dictionary<string, string?>? ParseParameters(ReadOnlySpan<char> text, out string? error)
    {
        error = null;
        var parameters = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach (var range in text.Split(' '))
        {
            var token = text[range];
            if (token.Length == 0)
            {
                continue;
            }

            var eq = token.IndexOf('=');
            var keyword = (eq < 0 ? token : token[..eq]).ToString().ToUpperInvariant();
            if (keyword.Length == 0 || !keyword.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                error = $"malformed parameter '{token}'";
                return null;
            }

            parameters[keyword] = eq < 0 ? null : token[(eq + 1)..].ToString();
        }

        return parameters;
    }
}
