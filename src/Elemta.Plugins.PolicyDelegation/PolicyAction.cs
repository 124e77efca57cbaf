using System.Globalization;
using System.Text;

namespace Elemta.Plugins.PolicyDelegation;

/// <summary>What a policy server's <c>action=</c> asks for, as access(5) defines the actions.</summary>
internal enum PolicyActionKind
{
    /// <summary><c>OK</c>, <c>permit</c>, an all-numerical result: accept.</summary>
    Accept,

    /// <summary><c>DUNNO</c>: no opinion.</summary>
    Continue,

    /// <summary><c>REJECT</c>, <c>5NN text</c>: refuse permanently.</summary>
    Reject,

    /// <summary><c>DEFER</c>, <c>DEFER_IF_PERMIT</c>, <c>4NN text</c>: refuse for now.</summary>
    Defer,

    /// <summary><c>DEFER_IF_REJECT</c>: defer only if a later restriction rejects; see the plugin's remarks.</summary>
    DeferIfReject,

    /// <summary><c>HOLD</c>: accept, then quarantine the message.</summary>
    Hold,

    /// <summary><c>DISCARD</c>: claim delivery, drop the message.</summary>
    Discard,

    /// <summary><c>PREPEND name: value</c>: add a header field.</summary>
    Prepend,

    /// <summary><c>REDIRECT address</c>: deliver to that address instead of the recipients.</summary>
    Redirect,

    /// <summary><c>BCC address</c>: deliver a copy to that address as well.</summary>
    Bcc,

    /// <summary><c>WARN text</c>, <c>INFO text</c>: log and go on.</summary>
    Log,

    /// <summary>An action Elemta cannot carry out (<c>FILTER</c>, a restriction name other than permit/reject/defer) or does not know: logged, no opinion.</summary>
    Unsupported,
}

/// <summary>One parsed policy server action.</summary>
/// <param name="Kind">What it asks for.</param>
/// <param name="Value">The action as the server sent it (for logs).</param>
/// <param name="Code">The SMTP reply code for <see cref="PolicyActionKind.Reject"/> and <see cref="PolicyActionKind.Defer"/>.</param>
/// <param name="EnhancedCode">The enhanced status code for a refusal.</param>
/// <param name="Text">The reply text, hold reason or log text (control characters removed); the address of a redirect or BCC; the header value of a prepend.</param>
/// <param name="HeaderName">The header field name of a prepend.</param>
internal sealed record PolicyAction(PolicyActionKind Kind, string Value, int Code = 0, string? EnhancedCode = null, string? Text = null, string? HeaderName = null)
{
    /// <summary>Postfix's <c>access_map_reject_code</c> default.</summary>
    public const int RejectCode = 554;

    /// <summary>Postfix's <c>access_map_defer_code</c> default.</summary>
    public const int DeferCode = 450;

    /// <summary>
    /// Parses an action as access(5) writes it: the keyword is case-insensitive and may be followed by text, which may
    /// start with an RFC 3463 enhanced status code (<c>DEFER_IF_PERMIT 4.2.0 Greylisted</c>).
    /// </summary>
    /// <exception cref="FormatException">The action is empty, or an action that needs an argument (PREPEND, REDIRECT, BCC) has a malformed one.</exception>
    public static PolicyAction Parse(string value)
    {
        ArgumentNullException.ThrowIfNull(value);
        var trimmed = value.Trim();
        if (trimmed.Length == 0)
        {
            throw new FormatException("the action is empty");
        }

        var space = trimmed.IndexOfAny([' ', '\t']);
        var keyword = space < 0 ? trimmed : trimmed[..space];
        var argument = space < 0 ? string.Empty : Clean(trimmed[(space + 1)..].Trim());

        if (keyword.Length == 3 && keyword[0] is '4' or '5' && keyword.All(char.IsAsciiDigit))
        {
            var code = int.Parse(keyword, CultureInfo.InvariantCulture);
            // 421 and 521 make Postfix disconnect after the reply; a plugin cannot close the session, and a 421 on an
            // open session misleads the client, so they become the plain deferral and rejection of their class.
            code = code switch { 421 => DeferCode, 521 => 550, _ => code };
            var (enhanced, text) = SplitEnhanced(argument, code / 100);
            return new PolicyAction(code < 500 ? PolicyActionKind.Defer : PolicyActionKind.Reject, trimmed, code, enhanced, text);
        }

        if (keyword.All(char.IsAsciiDigit))
        {
            return new PolicyAction(PolicyActionKind.Accept, trimmed); // access(5): "an all-numerical result is treated as OK"
        }

        switch (keyword.ToUpperInvariant())
        {
            case "OK" or "PERMIT":
                return new PolicyAction(PolicyActionKind.Accept, trimmed);
            case "DUNNO":
                return new PolicyAction(PolicyActionKind.Continue, trimmed);
            case "REJECT":
            {
                var (enhanced, text) = SplitEnhanced(argument, 5);
                return new PolicyAction(PolicyActionKind.Reject, trimmed, RejectCode, enhanced, text);
            }

            case "DEFER" or "DEFER_IF_PERMIT":
            {
                var (enhanced, text) = SplitEnhanced(argument, 4);
                return new PolicyAction(PolicyActionKind.Defer, trimmed, DeferCode, enhanced, text);
            }

            case "DEFER_IF_REJECT":
                return new PolicyAction(PolicyActionKind.DeferIfReject, trimmed, Text: NullIfEmpty(argument));
            case "HOLD":
                return new PolicyAction(PolicyActionKind.Hold, trimmed, Text: NullIfEmpty(argument));
            case "DISCARD":
                return new PolicyAction(PolicyActionKind.Discard, trimmed, Text: NullIfEmpty(argument));
            case "PREPEND":
                return Prepend(trimmed, argument);
            case "REDIRECT" or "BCC":
                if (argument.Length == 0 || argument.Any(c => c is ' ' or '\t' or '<' or '>') || !argument.Contains('@', StringComparison.Ordinal))
                {
                    throw new FormatException($"{keyword.ToUpperInvariant()} needs one address (user@domain), not '{argument}'");
                }

                return new PolicyAction(keyword.Equals("BCC", StringComparison.OrdinalIgnoreCase) ? PolicyActionKind.Bcc : PolicyActionKind.Redirect, trimmed, Text: argument);
            case "WARN" or "INFO":
                return new PolicyAction(PolicyActionKind.Log, trimmed, Text: argument);
            default:
                // FILTER, restriction names (permit_mynetworks, reject_unauth_destination, ...), anything newer.
                return new PolicyAction(PolicyActionKind.Unsupported, trimmed);
        }
    }

    private static PolicyAction Prepend(string value, string argument)
    {
        var colon = argument.IndexOf(':', StringComparison.Ordinal);
        var name = colon > 0 ? argument[..colon] : string.Empty;
        if (name.Length == 0 || !name.All(c => c is > ' ' and < '\x7f'))
        {
            throw new FormatException($"PREPEND needs a header field 'Name: value', not '{argument}'");
        }

        return new PolicyAction(PolicyActionKind.Prepend, value, Text: argument[(colon + 1)..].TrimStart(), HeaderName: name);
    }

    /// <summary>Splits a leading enhanced status code off the text; its class is made the reply's, as Postfix does.</summary>
    private static (string Enhanced, string? Text) SplitEnhanced(string argument, int @class)
    {
        var space = argument.IndexOf(' ', StringComparison.Ordinal);
        var first = space < 0 ? argument : argument[..space];
        var parts = first.Split('.');
        if (parts.Length == 3 && parts[0] is "2" or "4" or "5" && parts.Skip(1).All(p => p.Length is >= 1 and <= 3 && p.All(char.IsAsciiDigit)))
        {
            var enhanced = string.Create(CultureInfo.InvariantCulture, $"{@class}.{parts[1]}.{parts[2]}");
            return (enhanced, NullIfEmpty(space < 0 ? string.Empty : argument[(space + 1)..].Trim()));
        }

        return (string.Create(CultureInfo.InvariantCulture, $"{@class}.7.1"), NullIfEmpty(argument));
    }

    private static string? NullIfEmpty(string text) => text.Length == 0 ? null : text;

    /// <summary>Replaces control characters (which no SMTP reply or header may carry) with spaces.</summary>
    public static string Clean(string text)
    {
        if (!text.Any(char.IsControl))
        {
            return text;
        }

        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(char.IsControl(c) ? ' ' : c);
        }

        return builder.ToString();
    }
}
