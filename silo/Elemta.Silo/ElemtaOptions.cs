namespace Elemta.Silo;

/// <summary>Top-level settings (<c>Elemta</c>).</summary>
public sealed class ElemtaOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta";

    /// <summary>Where the embedded database and other state live. Relative paths are from the working directory.</summary>
    public string DataDirectory { get; set; } = "./data";
}

/// <summary>Orleans cluster settings (<c>Elemta:Cluster</c>).</summary>
public sealed class ClusterOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Cluster";

    /// <summary>Orleans cluster id: silos with the same id form one cluster.</summary>
    public string ClusterId { get; set; } = "elemta";

    /// <summary>Orleans service id: stable across deployments, part of every persisted grain key.</summary>
    public string ServiceId { get; set; } = "elemta";

    /// <summary>Silo-to-silo port (Orleans default 11111).</summary>
    public int SiloPort { get; set; } = 11111;

    /// <summary>Port Orleans clients (the client SDK, the CLI) connect to (Orleans default 30000).</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>
    /// The IP address other silos and clients reach this silo at (PostgreSQL clustering). Empty: Orleans picks the
    /// host's first non-loopback address.
    /// </summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>
    /// Running as Kubernetes pods (Microsoft.Orleans.Hosting.Kubernetes): silo name, address and ids come from the
    /// pod (POD_NAME, POD_IP, POD_NAMESPACE, ORLEANS_CLUSTER_ID, ORLEANS_SERVICE_ID), and silos of deleted pods are
    /// declared dead at once. Needs PostgreSQL clustering.
    /// </summary>
    public bool Kubernetes { get; set; }

    /// <summary>How fast a dead silo is declared dead (<c>Elemta:Cluster:Membership</c>); PostgreSQL clusters only.</summary>
    public MembershipOptions Membership { get; set; } = new();
}

/// <summary>
/// Orleans' failure detector (<c>Elemta:Cluster:Membership</c>), mapped onto <c>ClusterMembershipOptions</c>. Every
/// silo probes the others; one that misses <see cref="NumMissedProbesLimit"/> probes in a row is suspected, and
/// <see cref="NumVotesForDeathDeclaration"/> suspicions declare it dead, after which its grains come back elsewhere.
/// The defaults declare a killed silo dead in about 10 s on a LAN (Orleans' own take 15–30 s): shorter means a
/// silo that merely stalls (a long GC pause, an overloaded or swapping machine, a congested network) for a few
/// seconds can be declared dead too, and a silo declared dead shuts itself down and must be restarted.
/// </summary>
public sealed class MembershipOptions
{
    /// <summary>
    /// Initial probe timeout and period. Orleans adapts both per monitored silo to the observed round trip, between
    /// half and four times this value, and lengthens them while this silo's own health is degraded.
    /// </summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Missed probes in a row after which a silo votes the probed one dead.</summary>
    public int NumMissedProbesLimit { get; set; } = 3;

    /// <summary>Votes that declare a silo dead (Orleans asks for fewer in a very small cluster).</summary>
    public int NumVotesForDeathDeclaration { get; set; } = 2;

    /// <summary>How long a vote counts: the other voters must reach their own verdict within it.</summary>
    public TimeSpan DeathVoteExpirationTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often a silo writes its heartbeat to the membership table (diagnostics and stale-entry detection).</summary>
    public TimeSpan IAmAliveTablePublishTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a silo reads the whole membership table, besides the changes gossiped to it at once.</summary>
    public TimeSpan TableRefreshTimeout { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>The first problem with these settings, or null.</summary>
    public string? Validate()
    {
        const string prefix = "Elemta:Cluster:Membership:";
        if (ProbeTimeout < TimeSpan.FromMilliseconds(500) || ProbeTimeout > TimeSpan.FromMinutes(1))
        {
            return prefix + "ProbeTimeout must be between 00:00:00.5 and 00:01:00.";
        }

        if (NumMissedProbesLimit is < 1 or > 10)
        {
            return prefix + "NumMissedProbesLimit must be between 1 and 10.";
        }

        if (NumVotesForDeathDeclaration is < 1 or > 10)
        {
            return prefix + "NumVotesForDeathDeclaration must be between 1 and 10.";
        }

        // A vote must outlive the slowest verdict of another voter (every probe at Orleans' longest adapted
        // timeout, four times ProbeTimeout), or two votes never count together and no silo is ever declared dead.
        var slowestVerdict = ProbeTimeout * 4 * NumMissedProbesLimit;
        if (DeathVoteExpirationTimeout < slowestVerdict || DeathVoteExpirationTimeout > TimeSpan.FromHours(1))
        {
            return prefix + $"DeathVoteExpirationTimeout must be between 4 × ProbeTimeout × NumMissedProbesLimit ({slowestVerdict:c}) and 01:00:00.";
        }

        if (IAmAliveTablePublishTimeout < TimeSpan.FromSeconds(1) || IAmAliveTablePublishTimeout > TimeSpan.FromMinutes(10))
        {
            return prefix + "IAmAliveTablePublishTimeout must be between 00:00:01 and 00:10:00.";
        }

        if (TableRefreshTimeout < TimeSpan.FromSeconds(1) || TableRefreshTimeout > TimeSpan.FromMinutes(10))
        {
            return prefix + "TableRefreshTimeout must be between 00:00:01 and 00:10:00.";
        }

        return null;
    }
}
