using System.Globalization;
using System.Net;
using System.Net.Sockets;

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
    private const int MaxLabel = 63;

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

        // RFC 5321 §4.1.2: a source route (@a,@b:) must be accepted and ignored.
        if (path[0] == '@')
        {
            var colon = path.IndexOf(':');
            if (colon < 0)
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

            var literal = domain[1..^1];
            if (literal.StartsWith("IPv6:", StringComparison.OrdinalIgnoreCase))
            {
                if (IPAddress.TryParse(literal[5..], out var v6) && v6.AddressFamily == AddressFamily.InterNetworkV6)
                {
                    return true;
                }
            }
            else if (IsDottedQuad(literal))
            {
                return true;
            }

            error = "invalid address literal";
            return false;
        }

        if (System.Text.Encoding.UTF8.GetByteCount(domain) > MaxDomain)
        {
            error = "domain longer than 255 octets";
            return false;
        }

        var trimmed = domain[^1] == '.' ? domain[..^1] : domain;
        foreach (var range in trimmed.Split('.'))
        {
            var label = trimmed[range];
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
