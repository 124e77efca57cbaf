using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text.RegularExpressions;

namespace Elemta.MailAuth.Spf;

/// <summary>A directive's qualifier (RFC 7208 §4.6.2): the result when its mechanism matches.</summary>
internal enum SpfQualifier
{
    Pass,
    Fail,
    SoftFail,
    Neutral,
}

/// <summary>The eight mechanisms of RFC 7208 §5.</summary>
internal enum SpfMechanismKind
{
    All,
    Include,
    A,
    Mx,
    Ptr,
    Ip4,
    Ip6,
    Exists,
}

/// <summary>One directive, parsed.</summary>
/// <param name="Qualifier">The result on a match.</param>
/// <param name="Kind">The mechanism.</param>
/// <param name="Text">The directive as written (reported as the matching mechanism).</param>
/// <param name="Target">The domain-spec; null where the mechanism has none or it was omitted (then the current domain).</param>
/// <param name="Network">For ip4/ip6: the network address.</param>
/// <param name="Ip4Prefix">The IPv4 CIDR length (32 when not given).</param>
/// <param name="Ip6Prefix">The IPv6 CIDR length (128 when not given).</param>
internal sealed record SpfDirective(
    SpfQualifier Qualifier,
    SpfMechanismKind Kind,
    string Text,
    SpfMacro? Target,
    IPAddress? Network,
    int Ip4Prefix,
    int Ip6Prefix);

/// <summary>
/// A parsed SPF record (RFC 7208 §4.5, §4.6, §12 ABNF). The whole record is parsed before anything is evaluated,
/// because a syntax error anywhere is a permerror even after a mechanism that would have matched (§4.6).
/// </summary>
internal sealed partial class SpfRecord
{
    private SpfRecord(IReadOnlyList<SpfDirective> directives, SpfMacro? redirect, SpfMacro? explanation)
    {
        Directives = directives;
        Redirect = redirect;
        Explanation = explanation;
    }

    /// <summary>The directives in order.</summary>
    public IReadOnlyList<SpfDirective> Directives { get; }

    /// <summary>The <c>redirect=</c> domain-spec (§6.1), if any.</summary>
    public SpfMacro? Redirect { get; }

    /// <summary>The <c>exp=</c> domain-spec (§6.2), if any.</summary>
    public SpfMacro? Explanation { get; }

    /// <summary>
    /// Whether a TXT string is an SPF record: <c>v=spf1</c> (case-insensitive) followed by a space or the end (§4.5).
    /// </summary>
    public static bool IsSpfRecord(string text) =>
        text.StartsWith("v=spf1", StringComparison.OrdinalIgnoreCase) && (text.Length == 6 || text[6] == ' ');

    /// <summary>Parses a record already selected with <see cref="IsSpfRecord"/>.</summary>
    public static bool TryParse(string text, out SpfRecord? record, out string? error)
    {
        record = null;
        // §3.1 and §4.6.1: records are 7-bit ASCII and terms are separated by spaces only; any other character
        // (a control character, a byte above 0x7E) makes the record unusable.
        foreach (var c in text)
        {
            if (c is < ' ' or > '~')
            {
                error = $"character U+{(int)c:X4} in the record (RFC 7208 §3.1, §4.6.1)";
                return false;
            }
        }

        var directives = new List<SpfDirective>();
        SpfMacro? redirect = null;
        SpfMacro? explanation = null;
        foreach (var term in text[6..].Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var modifier = ModifierPattern().Match(term);
            if (modifier.Success)
            {
                var name = modifier.Groups["name"].Value;
                var value = modifier.Groups["value"].Value;
                if (name.Equals("redirect", StringComparison.OrdinalIgnoreCase) || name.Equals("exp", StringComparison.OrdinalIgnoreCase))
                {
                    var isRedirect = name.Length == 8;
                    // §6: each of these modifiers may appear at most once.
                    if ((isRedirect ? redirect : explanation) is not null)
                    {
                        error = $"'{name}=' appears more than once (RFC 7208 §6)";
                        return false;
                    }

                    if (!SpfMacro.TryParseDomainSpec(value, out var spec, out error))
                    {
                        error = $"{name}=: {error}";
                        return false;
                    }

                    if (isRedirect)
                    {
                        redirect = spec;
                    }
                    else
                    {
                        explanation = spec;
                    }
                }
                else if (!SpfMacro.TryParse(value, explanation: false, out _, out error))
                {
                    // §6: unknown modifiers are ignored, but they still have to be valid macro-strings (§12 ABNF).
                    error = $"modifier '{name}': {error}";
                    return false;
                }

                continue;
            }

            if (!TryParseDirective(term, out var directive, out error))
            {
                return false;
            }

            directives.Add(directive!);
        }

        record = new SpfRecord(directives, redirect, explanation);
        error = null;
        return true;
    }

    private static bool TryParseDirective(string term, out SpfDirective? directive, out string? error)
    {
        directive = null;
        var match = MechanismPattern().Match(term);
        if (!match.Success)
        {
            error = $"'{term}' is neither a mechanism nor a modifier (RFC 7208 §4.6.1)";
            return false;
        }

        var qualifier = match.Groups["qualifier"].Value switch
        {
            "-" => SpfQualifier.Fail,
            "~" => SpfQualifier.SoftFail,
            "?" => SpfQualifier.Neutral,
            _ => SpfQualifier.Pass,
        };
        var name = match.Groups["name"].Value.ToLowerInvariant();
        var rest = match.Groups["rest"].Value;
        switch (name)
        {
            case "all":
                // §5.1: all = "all", no argument and no CIDR.
                if (rest.Length != 0)
                {
                    error = $"'{term}': 'all' takes no argument (RFC 7208 §5.1)";
                    return false;
                }

                directive = new SpfDirective(qualifier, SpfMechanismKind.All, term, null, null, 32, 128);
                error = null;
                return true;
            case "include":
            case "exists":
            {
                // §5.2, §5.7: a required domain-spec and nothing else (a CIDR suffix fails the top-label check).
                if (!rest.StartsWith(':'))
                {
                    error = $"'{term}': '{name}' requires ':domain' (RFC 7208 §5.2, §5.7)";
                    return false;
                }

                if (!SpfMacro.TryParseDomainSpec(rest[1..], out var target, out var specError))
                {
                    error = $"'{term}': {specError}";
                    return false;
                }

                var kind = name == "include" ? SpfMechanismKind.Include : SpfMechanismKind.Exists;
                directive = new SpfDirective(qualifier, kind, term, target, null, 32, 128);
                error = null;
                return true;
            }

            case "a":
            case "mx":
                return TryParseAddressMechanism(qualifier, name == "a" ? SpfMechanismKind.A : SpfMechanismKind.Mx, term, rest, out directive, out error);
            case "ptr":
            {
                // §5.5: ptr [":" domain-spec], no CIDR.
                SpfMacro? target = null;
                if (rest.Length != 0 && (!rest.StartsWith(':') || !SpfMacro.TryParseDomainSpec(rest[1..], out target, out error)))
                {
                    error = $"'{term}': not 'ptr' or 'ptr:domain' (RFC 7208 §5.5)";
                    return false;
                }

                directive = new SpfDirective(qualifier, SpfMechanismKind.Ptr, term, target, null, 32, 128);
                error = null;
                return true;
            }

            case "ip4":
            case "ip6":
                return TryParseIpMechanism(qualifier, name == "ip4", term, rest, out directive, out error);
            default:
                error = $"unknown mechanism '{name}' (RFC 7208 §5)";
                return false;
        }
    }

    /// <summary>§5.3, §5.4: <c>a</c>/<c>mx</c> [":" domain-spec] [dual-cidr-length].</summary>
    private static bool TryParseAddressMechanism(SpfQualifier qualifier, SpfMechanismKind kind, string term, string rest,
        out SpfDirective? directive, out string? error)
    {
        directive = null;
        var cidr = DualCidrPattern().Match(rest);
        var ip4Prefix = 32;
        var ip6Prefix = 128;
        if (cidr.Groups["ip4"].Success && !TryParseCidr(cidr.Groups["ip4"].Value, 32, out ip4Prefix)
            || cidr.Groups["ip6"].Success && !TryParseCidr(cidr.Groups["ip6"].Value, 128, out ip6Prefix))
        {
            error = $"'{term}': invalid CIDR length (RFC 7208 §5.6: 0-32 for IPv4, 0-128 for IPv6, no leading zeros)";
            return false;
        }

        var domainPart = rest[..cidr.Index];
        SpfMacro? target = null;
        if (domainPart.Length != 0)
        {
            if (!domainPart.StartsWith(':'))
            {
                error = $"'{term}': expected ':domain' or a CIDR length (RFC 7208 §5.3, §5.4)";
                return false;
            }

            if (!SpfMacro.TryParseDomainSpec(domainPart[1..], out target, out error))
            {
                error = $"'{term}': {error}";
                return false;
            }
        }

        directive = new SpfDirective(qualifier, kind, term, target, null, ip4Prefix, ip6Prefix);
        error = null;
        return true;
    }

    /// <summary>§5.6: <c>ip4:</c> ip4-network [ip4-cidr-length], <c>ip6:</c> ip6-network [ip6-cidr-length].</summary>
    private static bool TryParseIpMechanism(SpfQualifier qualifier, bool ip4, string term, string rest,
        out SpfDirective? directive, out string? error)
    {
        directive = null;
        error = $"'{term}': not a valid {(ip4 ? "ip4:address[/0-32]" : "ip6:address[/0-128]")} (RFC 7208 §5.6)";
        if (!rest.StartsWith(':'))
        {
            return false;
        }

        var value = rest[1..];
        var prefix = ip4 ? 32 : 128;
        var slash = value.IndexOf('/', StringComparison.Ordinal);
        if (slash >= 0)
        {
            if (!TryParseCidr(value[(slash + 1)..], prefix, out prefix))
            {
                return false;
            }

            value = value[..slash];
        }

        IPAddress? network;
        if (ip4)
        {
            if (!TryParseStrictIp4(value, out network))
            {
                return false;
            }
        }
        else if (!value.Contains(':', StringComparison.Ordinal) || value.Contains('%', StringComparison.Ordinal)
                 || !IPAddress.TryParse(value, out network) || network.AddressFamily != AddressFamily.InterNetworkV6)
        {
            return false;
        }

        directive = new SpfDirective(qualifier, ip4 ? SpfMechanismKind.Ip4 : SpfMechanismKind.Ip6, term, null, network,
            ip4 ? prefix : 32, ip4 ? 128 : prefix);
        error = null;
        return true;
    }

    /// <summary>A CIDR length as the ABNF allows it: "0" or no leading zero, at most <paramref name="max"/>.</summary>
    private static bool TryParseCidr(string digits, int max, out int value)
    {
        value = 0;
        return digits.Length is > 0 and <= 3
               && digits.All(char.IsAsciiDigit)
               && (digits.Length == 1 || digits[0] != '0')
               && int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out value)
               && value <= max;
    }

    /// <summary>§5.6 ip4-network: exactly four decimal octets without leading zeros (IPAddress.Parse accepts far more).</summary>
    private static bool TryParseStrictIp4(string text, out IPAddress? address)
    {
        address = null;
        var parts = text.Split('.');
        if (parts.Length != 4)
        {
            return false;
        }

        var bytes = new byte[4];
        for (var i = 0; i < 4; i++)
        {
            if (!TryParseCidr(parts[i], 255, out var octet))
            {
                return false;
            }

            bytes[i] = (byte)octet;
        }

        address = new IPAddress(bytes);
        return true;
    }

    /// <summary>§4.6.1: a modifier is <c>name "=" macro-string</c> with <c>name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )</c>.</summary>
    [GeneratedRegex(@"^(?<name>[A-Za-z][A-Za-z0-9\-_.]*)=(?<value>.*)$", RegexOptions.CultureInvariant)]
    private static partial Regex ModifierPattern();

    /// <summary>§4.6.2: <c>[qualifier] mechanism</c>; the name is everything up to ':' or '/'.</summary>
    [GeneratedRegex(@"^(?<qualifier>[+\-~?]?)(?<name>[A-Za-z][A-Za-z0-9\-_.]*)(?<rest>[:/].*)?$", RegexOptions.CultureInvariant)]
    private static partial Regex MechanismPattern();

    /// <summary>§5.6 dual-cidr-length at the end of an a/mx argument: [ "/" ip4 ] [ "//" ip6 ].</summary>
    [GeneratedRegex(@"(?:/(?<ip4>\d+))?(?://(?<ip6>\d+))?$", RegexOptions.CultureInvariant)]
    private static partial Regex DualCidrPattern();
}
