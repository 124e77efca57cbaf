namespace Elemta.Policies.Greylisting;

/// <summary>
/// Greylisting (RFC 6647), section <c>Elemta:Greylisting</c>. Off by default. A new (client network, sender,
/// recipient) triplet is deferred; a retry after <see cref="Delay"/> passes, and the triplet then passes at once for
/// <see cref="PassedLifetime"/>. State lives in greylist grains, persisted, so it holds across silos and restarts.
/// </summary>
public sealed class GreylistingOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Greylisting";

    /// <summary>Whether greylisting is on. Default false.</summary>
    public bool Enabled { get; set; }

    /// <summary>How long a new triplet must wait before a retry passes. Default 5 minutes (as Postgrey).</summary>
    public TimeSpan Delay { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long after its first attempt a retry still counts; later, the triplet starts over. Default 1 day.</summary>
    public TimeSpan RetryWindow { get; set; } = TimeSpan.FromDays(1);

    /// <summary>How long a triplet that passed keeps passing at once after its last message. Default 35 days (as Postgrey).</summary>
    public TimeSpan PassedLifetime { get; set; } = TimeSpan.FromDays(35);

    /// <summary>The IPv4 prefix that makes a client's network (a sender's pool of outbound hosts retries from a neighbour). Default 24.</summary>
    public int Ipv4Prefix { get; set; } = 24;

    /// <summary>The IPv6 prefix of a client's network. Default 64.</summary>
    public int Ipv6Prefix { get; set; } = 64;
}
