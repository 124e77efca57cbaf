namespace Elemta.Grains;

/// <summary>
/// Per-destination traffic shaping (<c>Elemta:Queue:Destinations</c>). A destination "site" is the set of MX hosts a
/// domain's mail goes to (or its configured route), so every domain hosted by one provider shares one budget.
/// </summary>
public sealed class DestinationOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Queue:Destinations";

    /// <summary>Deliveries to one site at the same time, across the cluster (Postfix: default_destination_concurrency_limit = 20).</summary>
    public int MaxConcurrency { get; set; } = 20;

    /// <summary>New deliveries to one site per minute, across the cluster; 0 means no rate limit.</summary>
    public double MessagesPerMinute { get; set; }

    /// <summary>
    /// Whether a site's "slow down" replies (421, or 4xx about too many connections, messages or a rate) halve its
    /// concurrency and rate, restored one step per <see cref="RecoverAfterSuccesses"/> normal replies.
    /// </summary>
    public bool Adaptive { get; set; } = true;

    /// <summary>Normal replies after which an adapted site's limits go one step back up.</summary>
    public int RecoverAfterSuccesses { get; set; } = 20;

    /// <summary>
    /// Limits for particular sites, by the name of an MX host or a domain it ends with (<c>google.com</c> matches
    /// <c>aspmx.l.google.com</c>), a route (<c>host:port</c>) or a recipient domain without MX.
    /// </summary>
    public Dictionary<string, SiteLimits> Sites { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The limits for <paramref name="site"/> (a site key, see <c>DestinationSites</c>).</summary>
    public SiteLimits LimitsFor(string site)
    {
        ArgumentNullException.ThrowIfNull(site);
        var separator = site.IndexOf(':', StringComparison.Ordinal);
        var names = separator < 0 ? [site] : site[(separator + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries);
        foreach (var (pattern, limits) in Sites)
        {
            var suffix = "." + pattern.TrimStart('.');
            if (names.Any(n => n.Equals(pattern, StringComparison.OrdinalIgnoreCase) || n.EndsWith(suffix, StringComparison.OrdinalIgnoreCase)))
            {
                return new SiteLimits
                {
                    MaxConcurrency = limits.MaxConcurrency ?? MaxConcurrency,
                    MessagesPerMinute = limits.MessagesPerMinute ?? MessagesPerMinute,
                };
            }
        }

        return new SiteLimits { MaxConcurrency = MaxConcurrency, MessagesPerMinute = MessagesPerMinute };
    }
}

/// <summary>Limits of one site; unset values fall back to the defaults in <see cref="DestinationOptions"/>.</summary>
public sealed class SiteLimits
{
    /// <summary>Deliveries at the same time.</summary>
    public int? MaxConcurrency { get; set; }

    /// <summary>New deliveries per minute; 0 means no rate limit.</summary>
    public double? MessagesPerMinute { get; set; }
}
