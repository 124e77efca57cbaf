using System.Globalization;

namespace Elemta.MailAuth.Dmarc;

/// <summary>A reporting URI of <c>rua=</c> or <c>ruf=</c> (RFC 7489 §6.2), with its optional size limit.</summary>
/// <param name="Uri">The absolute URI (normally <c>mailto:</c>).</param>
/// <param name="MaxBytes">The <c>!size</c> suffix in bytes (k, m, g, t are powers of two), or null.</param>
public sealed record DmarcReportUri(Uri Uri, long? MaxBytes);

/// <summary>
/// A parsed DMARC policy record (RFC 7489 §6.3, §6.4). Tags left out take their defaults: <c>adkim=r</c>,
/// <c>aspf=r</c>, <c>pct=100</c>, <c>fo=0</c>, <c>ri=86400</c>, no <c>sp</c> (subdomains get <c>p</c>).
/// </summary>
public sealed record DmarcRecord
{
    /// <summary>The <c>p=</c> policy for the domain itself.</summary>
    public required DmarcPolicy Policy { get; init; }

    /// <summary>The <c>sp=</c> policy for subdomains of the domain the record was found at; null when not given.</summary>
    public DmarcPolicy? SubdomainPolicy { get; init; }

    /// <summary><c>adkim=</c>.</summary>
    public DmarcAlignmentMode DkimAlignment { get; init; }

    /// <summary><c>aspf=</c>.</summary>
    public DmarcAlignmentMode SpfAlignment { get; init; }

    /// <summary><c>pct=</c>: the percentage of failing messages the policy applies to (0–100).</summary>
    public int Percent { get; init; } = 100;

    /// <summary><c>rua=</c>: where aggregate reports go.</summary>
    public IReadOnlyList<DmarcReportUri> AggregateReportUris { get; init; } = [];

    /// <summary><c>ruf=</c>: where failure reports go.</summary>
    public IReadOnlyList<DmarcReportUri> FailureReportUris { get; init; } = [];

    /// <summary><c>fo=</c>: failure reporting options, each of <c>0</c>, <c>1</c>, <c>d</c>, <c>s</c>.</summary>
    public IReadOnlyList<string> FailureOptions { get; init; } = ["0"];

    /// <summary><c>ri=</c>: the requested aggregate reporting interval in seconds.</summary>
    public long ReportInterval { get; init; } = 86400;

    /// <summary>
    /// True when <c>p=</c> was missing or invalid (or <c>sp=</c> invalid) and the record is used as <c>p=none</c>
    /// because it names a valid <c>rua=</c> (RFC 7489 §6.6.3 ¶6).
    /// </summary>
    public bool PolicyDefaulted { get; init; }

    /// <summary>Tags whose values were invalid and were replaced by their defaults, and duplicate tags ignored.</summary>
    public IReadOnlyList<string> Warnings { get; init; } = [];

    /// <summary>Whether <paramref name="text"/> starts with the version tag <c>v=DMARC1</c> (RFC 7489 §6.6.3 step 3).</summary>
    /// <param name="text">A TXT record's text.</param>
    public static bool IsDmarcRecord(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var first = text.Split(';', 2)[0];
        var equals = first.IndexOf('=', StringComparison.Ordinal);
        // "v" *WSP "=" *WSP "DMARC1" — the version value is case-sensitive (%x44 %x4d %x41 %x52 %x43 %x31).
        return equals > 0
            && first[..equals].Trim(' ', '\t') == "v"
            && first[(equals + 1)..].Trim(' ', '\t') == "DMARC1";
    }

    /// <summary>
    /// Parses a record that <see cref="IsDmarcRecord"/> accepted. Unknown tags are ignored (§6.3). A missing or invalid
    /// <c>p=</c>, or an invalid <c>sp=</c>, makes the record unusable unless <c>rua=</c> has a valid URI, in which case
    /// the record counts as <c>p=none</c> (§6.6.3). Invalid values of the other tags take the tag's default and are
    /// listed in <see cref="Warnings"/> (RFC 7489 does not say; OpenDMARC-like receivers are as lenient).
    /// </summary>
    /// <param name="text">The record's text.</param>
    /// <param name="record">The record, or null.</param>
    /// <param name="error">Why the record is unusable, or null.</param>
    /// <returns>Whether the record is usable.</returns>
    public static bool TryParse(string text, out DmarcRecord? record, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        record = null;
        if (!IsDmarcRecord(text))
        {
            error = "the record does not start with v=DMARC1";
            return false;
        }

        var tags = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        var warnings = new List<string>();
        foreach (var part in text.Split(';').Skip(1))
        {
            var tag = part.Trim(' ', '\t', '\r', '\n');
            if (tag.Length == 0)
            {
                continue;
            }

            var equals = tag.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                warnings.Add($"'{tag}' is not a tag=value pair and is ignored");
                continue;
            }

            var name = tag[..equals].Trim(' ', '\t');
            var value = tag[(equals + 1)..].Trim(' ', '\t');
            if (!tags.TryAdd(name, value))
            {
                warnings.Add($"duplicate tag {name}= is ignored");
            }
        }

        var rua = ParseUris(tags, "rua", warnings);
        var ruf = ParseUris(tags, "ruf", warnings);
        var policy = tags.TryGetValue("p", out var p) ? ParsePolicy(p) : null;
        DmarcPolicy? subdomain = null;
        var subdomainValid = true;
        if (tags.TryGetValue("sp", out var sp))
        {
            subdomain = ParsePolicy(sp);
            subdomainValid = subdomain is not null;
        }

        var defaulted = false;
        if (policy is null || !subdomainValid)
        {
            var problem = policy is null
                ? p is null ? "the record has no p= tag" : $"p={p} is not none, quarantine or reject"
                : $"sp={sp} is not none, quarantine or reject";
            if (rua.Count == 0)
            {
                error = problem + " and names no valid rua= URI (RFC 7489 §6.6.3)";
                return false;
            }

            // §6.6.3: act as if "v=DMARC1; p=none" had been retrieved, keeping the reporting address.
            warnings.Add(problem + "; the record counts as p=none because it has a valid rua= (RFC 7489 §6.6.3)");
            policy = DmarcPolicy.None;
            subdomain = null;
            defaulted = true;
        }

        record = new DmarcRecord
        {
            Policy = policy.Value,
            SubdomainPolicy = subdomain,
            DkimAlignment = ParseAlignment(tags, "adkim", warnings),
            SpfAlignment = ParseAlignment(tags, "aspf", warnings),
            Percent = (int)ParseInteger(tags, "pct", 0, 100, 100, warnings),
            AggregateReportUris = rua,
            FailureReportUris = ruf,
            FailureOptions = ParseFailureOptions(tags, warnings),
            ReportInterval = ParseInteger(tags, "ri", 0, uint.MaxValue, 86400, warnings),
            PolicyDefaulted = defaulted,
            Warnings = warnings,
        };
        error = null;
        return true;
    }

    private static DmarcPolicy? ParsePolicy(string value) => value.ToLowerInvariant() switch
    {
        "none" => DmarcPolicy.None,
        "quarantine" => DmarcPolicy.Quarantine,
        "reject" => DmarcPolicy.Reject,
        _ => null,
    };

    private static DmarcAlignmentMode ParseAlignment(Dictionary<string, string> tags, string name, List<string> warnings)
    {
        if (!tags.TryGetValue(name, out var value))
        {
            return DmarcAlignmentMode.Relaxed;
        }

        switch (value.ToLowerInvariant())
        {
            case "r":
                return DmarcAlignmentMode.Relaxed;
            case "s":
                return DmarcAlignmentMode.Strict;
            default:
                warnings.Add($"{name}={value} is not r or s; relaxed is used");
                return DmarcAlignmentMode.Relaxed;
        }
    }

    private static long ParseInteger(Dictionary<string, string> tags, string name, long min, long max, long fallback, List<string> warnings)
    {
        if (!tags.TryGetValue(name, out var value))
        {
            return fallback;
        }

        if (value.Length > 0 && value.All(char.IsAsciiDigit)
            && long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var number) && number >= min && number <= max)
        {
            return number;
        }

        warnings.Add(string.Create(CultureInfo.InvariantCulture, $"{name}={value} is not an integer from {min} to {max}; {fallback} is used"));
        return fallback;
    }

    private static List<string> ParseFailureOptions(Dictionary<string, string> tags, List<string> warnings)
    {
        if (!tags.TryGetValue("fo", out var value))
        {
            return ["0"];
        }

        var options = value.Split(':').Select(o => o.Trim(' ', '\t').ToLowerInvariant()).ToList();
        if (options.Count == 0 || options.Any(o => o is not ("0" or "1" or "d" or "s")))
        {
            warnings.Add($"fo={value} is not a colon-separated list of 0, 1, d, s; 0 is used");
            return ["0"];
        }

        return options;
    }

    private static List<DmarcReportUri> ParseUris(Dictionary<string, string> tags, string name, List<string> warnings)
    {
        var uris = new List<DmarcReportUri>();
        if (!tags.TryGetValue(name, out var value))
        {
            return uris;
        }

        foreach (var item in value.Split(','))
        {
            var text = item.Trim(' ', '\t');
            long? maxBytes = null;
            // dmarc-uri = URI [ "!" 1*DIGIT [ "k" / "m" / "g" / "t" ] ]; "!" cannot appear unescaped in the URI itself.
            var bang = text.LastIndexOf('!');
            if (bang >= 0)
            {
                maxBytes = ParseSize(text[(bang + 1)..]);
                if (maxBytes is null)
                {
                    warnings.Add($"{name}: '{text}' has an invalid size limit and is ignored");
                    continue;
                }

                text = text[..bang];
            }

            if (Uri.TryCreate(text, UriKind.Absolute, out var uri) && !string.IsNullOrEmpty(uri.Scheme))
            {
                uris.Add(new DmarcReportUri(uri, maxBytes));
            }
            else
            {
                warnings.Add($"{name}: '{text}' is not an absolute URI and is ignored");
            }
        }

        return uris;
    }

    private static long? ParseSize(string text)
    {
        if (text.Length == 0)
        {
            return null;
        }

        var shift = char.ToLowerInvariant(text[^1]) switch
        {
            'k' => 10,
            'm' => 20,
            'g' => 30,
            't' => 40,
            _ => 0,
        };
        var digits = shift == 0 ? text : text[..^1];
        return digits.Length > 0 && digits.Length <= 12 && digits.All(char.IsAsciiDigit)
            ? long.Parse(digits, NumberStyles.None, CultureInfo.InvariantCulture) << shift
            : null;
    }
}
