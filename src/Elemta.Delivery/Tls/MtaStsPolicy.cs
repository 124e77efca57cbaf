using System.Globalization;

namespace Elemta.Delivery.Tls;

/// <summary>The <c>mode</c> of an MTA-STS policy (RFC 8461 §5).</summary>
public enum MtaStsMode
{
    /// <summary>The domain has withdrawn its policy: deliver as without one.</summary>
    None = 0,

    /// <summary>Report failures (TLSRPT) but deliver as without a policy.</summary>
    Testing = 1,

    /// <summary>Deliver only to MX hosts the policy names, over TLS with a certificate that verifies.</summary>
    Enforce = 2,
}

/// <summary>A domain's MTA-STS policy as served at <c>https://mta-sts.&lt;domain&gt;/.well-known/mta-sts.txt</c> (RFC 8461 §3.2).</summary>
/// <param name="Mode">What the policy asks for.</param>
/// <param name="MxPatterns">MX host names, or <c>*.</c> wildcards matching exactly one leftmost label, in lower case.</param>
/// <param name="MaxAge">How long the policy may be cached (at most a year).</param>
public sealed record MtaStsPolicy(MtaStsMode Mode, IReadOnlyList<string> MxPatterns, TimeSpan MaxAge)
{
    /// <summary>RFC 8461 §3.2: max_age is at most 31557600 seconds (about a year).</summary>
    public const long MaxAgeLimitSeconds = 31_557_600;

    /// <summary>Whether <paramref name="mxHost"/> is one of the policy's MX hosts (RFC 8461 §4.1).</summary>
    public bool Matches(string mxHost)
    {
        var host = mxHost.TrimEnd('.').ToLowerInvariant();
        foreach (var pattern in MxPatterns)
        {
            if (pattern.StartsWith("*.", StringComparison.Ordinal))
            {
                // A wildcard stands for exactly one label: *.example.com matches mx.example.com, not a.b.example.com.
                var suffix = pattern[1..];
                if (host.EndsWith(suffix, StringComparison.Ordinal) && host.Length > suffix.Length && host.IndexOf('.', StringComparison.Ordinal) == host.Length - suffix.Length)
                {
                    return true;
                }
            }
            else if (host == pattern)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Parses a policy body: <c>key: value</c> lines ended by CRLF or LF, <c>version: STSv1</c>, <c>mode</c>,
    /// <c>max_age</c>, and <c>mx</c> (one or more; required unless the mode is none). Unknown keys are ignored.
    /// </summary>
    public static bool TryParse(string text, out MtaStsPolicy? policy, out string? error)
    {
        ArgumentNullException.ThrowIfNull(text);
        policy = null;
        string? version = null;
        MtaStsMode? mode = null;
        long? maxAge = null;
        var mx = new List<string>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.TrimEnd('\r').Trim();
            if (line.Length == 0)
            {
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon <= 0)
            {
                error = $"line '{line}' is not 'key: value'";
                return false;
            }

            var key = line[..colon].Trim();
            var value = line[(colon + 1)..].Trim();
            switch (key)
            {
                case "version":
                    version ??= value;
                    break;
                case "mode":
                    mode ??= value switch
                    {
                        "enforce" => MtaStsMode.Enforce,
                        "testing" => MtaStsMode.Testing,
                        "none" => MtaStsMode.None,
                        _ => (MtaStsMode)(-1),
                    };
                    break;
                case "max_age":
                    if (maxAge is null)
                    {
                        maxAge = value.Length is > 0 and <= 10 && value.All(char.IsAsciiDigit) ? long.Parse(value, CultureInfo.InvariantCulture) : -1;
                    }

                    break;
                case "mx":
                    mx.Add(value.TrimEnd('.').ToLowerInvariant());
                    break;
            }
        }

        error = version != "STSv1" ? "version is not STSv1"
            : mode is null || !Enum.IsDefined(mode.Value) ? "mode is missing or not enforce, testing or none"
            : maxAge is null or < 0 or > MaxAgeLimitSeconds ? $"max_age is missing or not 0-{MaxAgeLimitSeconds}"
            : mx.Count == 0 && mode != MtaStsMode.None ? "no mx line"
            : mx.Any(p => p.Length == 0 || p.IndexOf('*', StringComparison.Ordinal) > 0 || (p.StartsWith('*') && !p.StartsWith("*.", StringComparison.Ordinal))) ? "an mx pattern is malformed"
            : null;
        if (error is not null)
        {
            return false;
        }

        policy = new MtaStsPolicy(mode!.Value, mx, TimeSpan.FromSeconds(maxAge!.Value));
        return true;
    }

    /// <summary>
    /// The <c>id</c> of an <c>_mta-sts</c> TXT record (RFC 8461 §3.1): <c>v=STSv1; id=…;</c> with an id of 1–32
    /// letters and digits. Null when the record is not a valid STSv1 record.
    /// </summary>
    public static string? ParseRecordId(string record)
    {
        ArgumentNullException.ThrowIfNull(record);
        var fields = record.Split(';', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length == 0 || fields[0] != "v=STSv1")
        {
            return null;
        }

        foreach (var field in fields.Skip(1))
        {
            if (field.StartsWith("id=", StringComparison.Ordinal))
            {
                var id = field[3..].Trim();
                return id.Length is >= 1 and <= 32 && id.All(char.IsAsciiLetterOrDigit) ? id : null;
            }
        }

        return null;
    }
}
