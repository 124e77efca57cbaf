namespace Elemta.Bounces;

/// <summary>Delivery status notification settings (<c>Elemta:Bounces</c>).</summary>
public sealed class BounceOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Bounces";

    /// <summary>The default <see cref="MaxReturnedSize"/>: 1 MiB, so a bounce of a large message stays small.</summary>
    public const long DefaultMaxReturnedSize = 1024 * 1024;

    /// <summary>
    /// The name this MTA reports itself as: in <c>Reporting-MTA</c>, the <c>MAILER-DAEMON@…</c> From address, the
    /// notice's Message-ID and its text. Empty means the machine's host name.
    /// </summary>
    public string ReportingHostName { get; set; } = "";

    /// <summary>
    /// Largest original (in octets) returned whole in a failure notice when the sender gave no RET; a larger one is
    /// returned as its header only. <c>RET=FULL</c> always returns the whole message, <c>RET=HDRS</c> never does.
    /// </summary>
    public long MaxReturnedSize { get; set; } = DefaultMaxReturnedSize;

    /// <summary>The host name in force.</summary>
    public string EffectiveHostName =>
        string.IsNullOrWhiteSpace(ReportingHostName) ? System.Net.Dns.GetHostName() : ReportingHostName.Trim();

    /// <summary>What is wrong with these options, one message per problem naming the key; empty when they are valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        if (!string.IsNullOrWhiteSpace(ReportingHostName) && !IsHostName(ReportingHostName.Trim()))
        {
            errors.Add($"{SectionName}:ReportingHostName must be a DNS host name such as mail.example.org (letters, digits, hyphens and dots), not '{ReportingHostName}'.");
        }

        if (MaxReturnedSize < 0)
        {
            errors.Add($"{SectionName}:MaxReturnedSize must be 0 or more octets (0 returns only the header of every message sent without RET).");
        }

        return errors;
    }

    /// <summary>RFC 1123 host name: labels of letters, digits and inner hyphens, at most 253 characters.</summary>
    internal static bool IsHostName(string name)
    {
        if (name.Length is 0 or > 253)
        {
            return false;
        }

        foreach (var label in name.TrimEnd('.').Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }

        return true;
    }
}
