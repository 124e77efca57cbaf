using System.Text;

namespace Elemta.MailAuth.Spf;

/// <summary>
/// A parsed macro-string (RFC 7208 §7.1): literals and <c>%{letter transformers delimiters}</c> expansions. Parsing
/// happens with the record, before any evaluation, so a bad macro anywhere is a permerror (§4.6); expansion needs the
/// evaluation's context and happens when a mechanism is reached.
/// </summary>
internal sealed class SpfMacro
{
    /// <summary>RFC 7208 §7.1: <c>delimiter = "." / "-" / "+" / "," / "/" / "_" / "="</c>.</summary>
    private const string Delimiters = ".-+,/_=";

    private SpfMacro(string text, IReadOnlyList<Token> tokens, int trailingLiteralStart)
    {
        Text = text;
        Tokens = tokens;
        TrailingLiteralStart = trailingLiteralStart;
    }

    /// <summary>The macro-string as written.</summary>
    public string Text { get; }

    /// <summary>Literal pieces and expansions, in order.</summary>
    public IReadOnlyList<Token> Tokens { get; }

    /// <summary>Where the literal text after the last macro-expand begins (Text.Length when it ends with one).</summary>
    public int TrailingLiteralStart { get; }

    /// <summary>Whether the string contains an expansion at all (a plain domain needs no context).</summary>
    public bool HasExpansions => Tokens.Any(t => t.Letter != '\0');

    /// <summary>
    /// Parses a macro-string. <paramref name="explanation"/> allows what only an explanation string may contain
    /// (RFC 7208 §7.1 and §6.2): the letters c, r and t, and spaces.
    /// </summary>
    public static bool TryParse(string text, bool explanation, out SpfMacro? macro, out string? error)
    {
        var tokens = new List<Token>();
        var literal = new StringBuilder();
        var trailingLiteralStart = 0;
        macro = null;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (c != '%')
            {
                // macro-literal = %x21-24 / %x26-7E (visible ASCII but "%"); an explain-string adds SP (§6.2).
                if (c is < '!' or > '~' && !(explanation && c == ' '))
                {
                    error = $"character U+{(int)c:X4} is not allowed in a macro-string (RFC 7208 §7.1)";
                    return false;
                }

                literal.Append(c);
                continue;
            }

            if (i + 1 >= text.Length)
            {
                error = "'%' at the end of a macro-string (RFC 7208 §7.1)";
                return false;
            }

            var next = text[++i];
            switch (next)
            {
                case '%':
                    literal.Append('%');
                    trailingLiteralStart = i + 1;
                    continue;
                case '_':
                    literal.Append(' ');
                    trailingLiteralStart = i + 1;
                    continue;
                case '-':
                    literal.Append("%20");
                    trailingLiteralStart = i + 1;
                    continue;
                case '{':
                    break;
                default:
                    error = $"'%{next}' is not a macro (RFC 7208 §7.1: %{{…}}, %%, %_ or %-)";
                    return false;
            }

            var close = text.IndexOf('}', i + 1);
            if (close < 0)
            {
                error = "unterminated '%{' (RFC 7208 §7.1)";
                return false;
            }

            if (!TryParseExpand(text.AsSpan(i + 1, close - i - 1), explanation, out var token, out error))
            {
                return false;
            }

            if (literal.Length > 0)
            {
                tokens.Add(Token.Literal(literal.ToString()));
                literal.Clear();
            }

            tokens.Add(token);
            i = close;
            trailingLiteralStart = close + 1;
        }

        if (literal.Length > 0)
        {
            tokens.Add(Token.Literal(literal.ToString()));
        }

        macro = new SpfMacro(text, tokens, trailingLiteralStart);
        error = null;
        return true;
    }

    /// <summary>
    /// Parses a domain-spec (RFC 7208 §7.1): a macro-string that ends in a macro-expand or in <c>"." toplabel ["."]</c>.
    /// </summary>
    public static bool TryParseDomainSpec(string text, out SpfMacro? macro, out string? error)
    {
        if (text.Length == 0)
        {
            macro = null;
            error = "empty domain-spec (RFC 7208 §7.1)";
            return false;
        }

        if (!TryParse(text, explanation: false, out macro, out error))
        {
            return false;
        }

        if (macro!.TrailingLiteralStart < text.Length && !EndsWithTopLabel(text.AsSpan(macro.TrailingLiteralStart)))
        {
            error = $"domain-spec '{text}' does not end in a macro or '.' and a valid top label (RFC 7208 §7.1)";
            macro = null;
            return false;
        }

        return true;
    }

    /// <summary>
    /// <c>toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )</c>, preceded by a
    /// dot inside the literal tail (a bare "museum" or "111.222.33.44" is not a domain-spec).
    /// </summary>
    private static bool EndsWithTopLabel(ReadOnlySpan<char> tail)
    {
        if (tail.EndsWith("."))
        {
            tail = tail[..^1];
        }

        var dot = tail.LastIndexOf('.');
        if (dot < 0)
        {
            return false;
        }

        var label = tail[(dot + 1)..];
        if (label.Length == 0 || !char.IsAsciiLetterOrDigit(label[0]) || !char.IsAsciiLetterOrDigit(label[^1]))
        {
            return false;
        }

        var hasLetter = false;
        var hasDash = false;
        foreach (var c in label)
        {
            if (char.IsAsciiLetter(c))
            {
                hasLetter = true;
            }
            else if (c == '-')
            {
                hasDash = true;
            }
            else if (!char.IsAsciiDigit(c))
            {
                return false;
            }
        }

        // All-alphanumeric labels need a letter (so an IPv4 address is not a domain); with a dash any mix is fine.
        return hasLetter || hasDash;
    }

    private static bool TryParseExpand(ReadOnlySpan<char> body, bool explanation, out Token token, out string? error)
    {
        token = default;
        if (body.Length == 0)
        {
            error = "empty macro '%{}' (RFC 7208 §7.1)";
            return false;
        }

        var letter = body[0];
        var lower = char.ToLowerInvariant(letter);
        if ("slodiphv".Contains(lower, StringComparison.Ordinal))
        {
            // The letters every macro-string may use.
        }
        else if ("crt".Contains(lower, StringComparison.Ordinal))
        {
            if (!explanation)
            {
                error = $"macro letter '{letter}' is allowed only in an explanation (RFC 7208 §7.3)";
                return false;
            }
        }
        else
        {
            error = $"unknown macro letter '{letter}' (RFC 7208 §7.3)";
            return false;
        }

        var i = 1;
        var digits = 0;
        var hasDigits = false;
        while (i < body.Length && char.IsAsciiDigit(body[i]))
        {
            hasDigits = true;
            // Anything past 128 labels means "all of them"; clamping avoids overflow on absurd input.
            digits = Math.Min(digits * 10 + (body[i] - '0'), 1000);
            i++;
        }

        if (hasDigits && digits == 0)
        {
            error = "the digit transformer must be nonzero (RFC 7208 §7.3)";
            return false;
        }

        var reverse = false;
        if (i < body.Length && body[i] is 'r' or 'R')
        {
            reverse = true;
            i++;
        }

        var delimiters = body[i..];
        foreach (var d in delimiters)
        {
            if (!Delimiters.Contains(d, StringComparison.Ordinal))
            {
                error = $"'{d}' is not a macro delimiter (RFC 7208 §7.1)";
                return false;
            }
        }

        token = new Token(null, lower, char.IsAsciiLetterUpper(letter), digits, reverse, delimiters.ToString());
        error = null;
        return true;
    }

    /// <summary>
    /// Applies transformers and delimiters to an expanded value (RFC 7208 §7.3): split on the delimiters (default "."),
    /// reverse if asked, keep the rightmost <c>digits</c> parts, join with "."; then URL-escape for upper-case letters.
    /// </summary>
    public static string Transform(string value, Token token)
    {
        string result;
        if (token.Digits == 0 && !token.Reverse && token.Delimiters.Length == 0)
        {
            result = value;
        }
        else
        {
            var delimiters = token.Delimiters.Length == 0 ? ['.'] : token.Delimiters.ToCharArray();
            var parts = value.Split(delimiters);
            if (token.Reverse)
            {
                Array.Reverse(parts);
            }

            if (token.Digits > 0 && token.Digits < parts.Length)
            {
                parts = parts[^token.Digits..];
            }

            result = string.Join('.', parts);
        }

        return token.UrlEscape ? UrlEscape(result) : result;
    }

    /// <summary>RFC 7208 §7.3: escape everything outside RFC 3986's unreserved set, byte by byte of its UTF-8 form.</summary>
    private static string UrlEscape(string value)
    {
        var builder = new StringBuilder(value.Length);
        foreach (var b in Encoding.UTF8.GetBytes(value))
        {
            var c = (char)b;
            if (char.IsAsciiLetterOrDigit(c) || c is '-' or '.' or '_' or '~')
            {
                builder.Append(c);
            }
            else
            {
                builder.Append('%').Append(b.ToString("X2", System.Globalization.CultureInfo.InvariantCulture));
            }
        }

        return builder.ToString();
    }

    /// <summary>A literal piece (<see cref="Letter"/> is '\0') or one <c>%{…}</c> expansion.</summary>
    /// <param name="Text">The literal text.</param>
    /// <param name="Letter">The macro letter in lower case.</param>
    /// <param name="UrlEscape">Whether the letter was written in upper case.</param>
    /// <param name="Digits">How many right-hand parts to keep; 0 keeps all.</param>
    /// <param name="Reverse">Whether the parts are reversed first.</param>
    /// <param name="Delimiters">The delimiters to split on; empty means ".".</param>
    internal readonly record struct Token(string? Text, char Letter, bool UrlEscape, int Digits, bool Reverse, string Delimiters)
    {
        public static Token Literal(string text) => new(text, '\0', false, 0, false, string.Empty);
    }
}
