using System.Globalization;

namespace Elemta.MailAuth.PublicSuffix;

/// <summary>
/// The Public Suffix List (https://publicsuffix.org/list/) and its matching algorithm: normal rules, wildcard rules
/// (<c>*.ck</c>) and exception rules (<c>!www.ck</c>), the ICANN and the private section. DMARC's organizational
/// domain (RFC 7489 §3.2) is <see cref="GetOrganizationalDomain"/>: the public suffix plus one label.
/// </summary>
/// <remarks>
/// Names are compared in their ASCII (punycode, RFC 3492) form, lower case: rules written in Unicode are converted when
/// the list is read, and a name given in Unicode is converted before matching and converted back in the answer, so
/// <c>www.食狮.公司.cn</c> gives <c>食狮.公司.cn</c> and <c>www.xn--85x722f.xn--55qx5d.cn</c> gives
/// <c>xn--85x722f.xn--55qx5d.cn</c>. A copy of Debian's list (package publicsuffix) is embedded in this assembly, so a
/// server downloads nothing: <see cref="Default"/>.
/// </remarks>
public sealed class PublicSuffixList
{
    /// <summary>The logical name of the embedded copy of the list.</summary>
    public const string EmbeddedResourceName = "Elemta.MailAuth.PublicSuffix.public_suffix_list.dat";

    private static readonly Lazy<PublicSuffixList> DefaultList = new(LoadEmbedded);
    private static readonly IdnMapping Idn = new() { AllowUnassigned = true, UseStd3AsciiRules = false };

    // Rule text (ASCII, lower case, without "*." or "!") → whether the rule comes from the private section.
    private readonly Dictionary<string, bool> _rules = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _wildcards = new(StringComparer.Ordinal);
    private readonly Dictionary<string, bool> _exceptions = new(StringComparer.Ordinal);

    private PublicSuffixList()
    {
    }

    /// <summary>The list embedded in this assembly (Debian's publicsuffix package), read once.</summary>
    public static PublicSuffixList Default => DefaultList.Value;

    /// <summary>Rules read (normal, wildcard and exception), ICANN and private together.</summary>
    public int RuleCount => _rules.Count + _wildcards.Count + _exceptions.Count;

    /// <summary>Rules read from the private section (<c>===BEGIN PRIVATE DOMAINS===</c>).</summary>
    public int PrivateRuleCount => _rules.Count(r => r.Value) + _wildcards.Count(r => r.Value) + _exceptions.Count(r => r.Value);

    /// <summary>Reads a list in the publicsuffix.org format.</summary>
    /// <param name="reader">The list's text.</param>
    /// <exception cref="FormatException">A rule is not a valid name, or the text has no rule.</exception>
    public static PublicSuffixList Load(TextReader reader)
    {
        ArgumentNullException.ThrowIfNull(reader);
        var list = new PublicSuffixList();
        var isPrivate = false;
        var lineNumber = 0;
        while (reader.ReadLine() is { } line)
        {
            lineNumber++;
            var trimmed = line.Trim();
            if (trimmed.Length == 0)
            {
                continue;
            }

            if (trimmed.StartsWith("//", StringComparison.Ordinal))
            {
                if (trimmed.Contains("===BEGIN PRIVATE DOMAINS===", StringComparison.Ordinal))
                {
                    isPrivate = true;
                }
                else if (trimmed.Contains("===BEGIN ICANN DOMAINS===", StringComparison.Ordinal))
                {
                    isPrivate = false;
                }

                continue;
            }

            // The format: each line is only read up to the first whitespace.
            var rule = trimmed.Split((char[]?)null, 2, StringSplitOptions.RemoveEmptyEntries)[0];
            var target = list._rules;
            if (rule.StartsWith('!'))
            {
                target = list._exceptions;
                rule = rule[1..];
            }
            else if (rule.StartsWith("*.", StringComparison.Ordinal))
            {
                target = list._wildcards;
                rule = rule[2..];
            }

            var ascii = ToAscii(rule);
            if (ascii is null || ascii.Split('.').Any(label => label.Length is 0 or > 63))
            {
                throw new FormatException(
                    string.Create(CultureInfo.InvariantCulture, $"Public suffix list line {lineNumber}: '{line}' is not a valid rule."));
            }

            target[ascii] = isPrivate;
        }

        if (list.RuleCount == 0)
        {
            throw new FormatException("The public suffix list has no rule.");
        }

        return list;
    }

    /// <summary>Reads a list file in the publicsuffix.org format (for instance a fresher copy than the embedded one).</summary>
    /// <param name="path">The file.</param>
    /// <exception cref="FileNotFoundException">The file does not exist.</exception>
    /// <exception cref="FormatException">A rule is not a valid name, or the file has no rule.</exception>
    public static PublicSuffixList LoadFile(string path)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        using var reader = new StreamReader(path);
        return Load(reader);
    }

    /// <summary>
    /// The public suffix of <paramref name="domain"/> (the longest matching rule, an exception winning, <c>*</c> when
    /// none matches), in the form the domain was given (Unicode or ASCII); null for an empty name, a name with an empty
    /// label (leading dot) or one that is not a valid IDN.
    /// </summary>
    /// <param name="domain">A domain name; a trailing dot is ignored.</param>
    /// <param name="includePrivate">Whether rules of the private section count (true for DMARC, as the list's users do).</param>
    public string? GetPublicSuffix(string? domain, bool includePrivate = true)
    {
        var labels = Prepare(domain, out var original);
        if (labels is null)
        {
            return null;
        }

        var count = SuffixLabelCount(labels, includePrivate);
        return Join(original!, original!.Length - count);
    }

    /// <summary>
    /// The organizational domain of RFC 7489 §3.2 (the registrable domain of the list's documentation): the public
    /// suffix plus one label, in the form the domain was given; null when <paramref name="domain"/> is itself a public
    /// suffix, empty, has an empty label or is not a valid IDN.
    /// </summary>
    /// <param name="domain">A domain name; a trailing dot is ignored.</param>
    /// <param name="includePrivate">Whether rules of the private section count.</param>
    public string? GetOrganizationalDomain(string? domain, bool includePrivate = true)
    {
        var labels = Prepare(domain, out var original);
        if (labels is null)
        {
            return null;
        }

        var count = SuffixLabelCount(labels, includePrivate);
        return labels.Length > count ? Join(original!, original!.Length - count - 1) : null;
    }

    /// <summary>Whether <paramref name="domain"/> is itself a public suffix (no organizational domain exists for it).</summary>
    /// <param name="domain">A domain name.</param>
    /// <param name="includePrivate">Whether rules of the private section count.</param>
    public bool IsPublicSuffix(string? domain, bool includePrivate = true)
    {
        var labels = Prepare(domain, out _);
        return labels is not null && SuffixLabelCount(labels, includePrivate) == labels.Length;
    }

    /// <summary>How many labels from the right form the public suffix (PSL algorithm, https://publicsuffix.org/list/).</summary>
    private int SuffixLabelCount(string[] labels, bool includePrivate)
    {
        var best = 1; // The implicit "*" rule.
        for (var start = 0; start < labels.Length; start++)
        {
            var candidate = string.Join('.', labels, start, labels.Length - start);
            var length = labels.Length - start;
            if (Matches(_exceptions, candidate, includePrivate))
            {
                // An exception rule wins over every other rule; the suffix is the rule without its leftmost label.
                return length - 1;
            }

            if (length > best && Matches(_rules, candidate, includePrivate))
            {
                best = length;
            }

            // "*.ck" matches any single label followed by "ck".
            if (length > best && start + 1 < labels.Length
                && Matches(_wildcards, string.Join('.', labels, start + 1, labels.Length - start - 1), includePrivate))
            {
                best = length;
            }
        }

        return best;
    }

    private static bool Matches(Dictionary<string, bool> rules, string name, bool includePrivate) =>
        rules.TryGetValue(name, out var isPrivate) && (includePrivate || !isPrivate);

    /// <summary>ASCII lower-case labels for matching, and the labels as given (lower case) for the answer.</summary>
    private static string[]? Prepare(string? domain, out string[]? original)
    {
        original = null;
        if (string.IsNullOrEmpty(domain))
        {
            return null;
        }

        var name = domain.EndsWith('.') ? domain[..^1] : domain;
        if (name.Length == 0 || name.StartsWith('.'))
        {
            return null;
        }

        var given = name.Split('.');
        if (given.Any(l => l.Length == 0))
        {
            return null;
        }

        var labels = new string[given.Length];
        for (var i = 0; i < given.Length; i++)
        {
            var ascii = ToAscii(given[i]);
            if (ascii is null)
            {
                return null;
            }

            labels[i] = ascii;
            given[i] = IsAscii(given[i]) ? ascii : given[i].ToLowerInvariant();
        }

        original = given;
        return labels;
    }

    private static string Join(string[] labels, int start) => string.Join('.', labels, start, labels.Length - start);

    /// <summary>The ASCII lower-case form of a name or label, or null when it is not a valid IDN.</summary>
    internal static string? ToAscii(string name)
    {
        if (IsAscii(name))
        {
            return name.ToLowerInvariant();
        }

        try
        {
            return Idn.GetAscii(name).ToLowerInvariant();
        }
        catch (ArgumentException)
        {
            return null;
        }
    }

    private static bool IsAscii(string text)
    {
        foreach (var c in text)
        {
            if (c > 0x7f)
            {
                return false;
            }
        }

        return true;
    }

    private static PublicSuffixList LoadEmbedded()
    {
        using var stream = typeof(PublicSuffixList).Assembly.GetManifestResourceStream(EmbeddedResourceName)
            ?? throw new InvalidOperationException($"The embedded public suffix list {EmbeddedResourceName} is missing from the build.");
        using var reader = new StreamReader(stream);
        return Load(reader);
    }
}
