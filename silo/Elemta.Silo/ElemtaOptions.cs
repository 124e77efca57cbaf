using Elemta.ClusterTls;

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

    /// <summary>Mutual TLS on the silo-to-silo and gateway ports (<c>Elemta:Cluster:Tls</c>).</summary>
    public ClusterTlsOptions Tls { get; set; } = new();
}

/// <summary>
/// Mutual TLS on the Orleans ports (<c>Elemta:Cluster:Tls</c>): with a certificate configured, every silo-to-silo and
/// gateway connection, in and out, is TLS and the peer must present a certificate issued by <c>CaPath</c>. Without
/// one the ports take anyone who reaches them, which a single node (loopback only) can afford and a cluster cannot.
/// </summary>
public sealed class ClusterTlsOptions : ClusterTlsSettings
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Cluster:Tls";

    /// <summary>
    /// Refuse to start a cluster silo (PostgreSQL clustering, ports on every address) without TLS configured, rather
    /// than warn. Recommended in production; off by default so that an existing cluster keeps starting.
    /// </summary>
    public bool Required { get; set; }
}

/// <summary>
/// Orleans' failure detector (<c>Elemta:Cluster:Membership</c>), mapped onto <c>ClusterMembershipOptions</c>. Every
/// silo probes the others; one that misses <see cref="NumMissedProbesLimit"/> probes in a row is suspected, and
/// <see cref="NumVotesForDeathDeclaration"/> suspicions declare it dead, after which its grains come back elsewhere.
/// The defaults declare a silo that hangs dead in about 10 s, and one whose process exited sooner (its port refuses
/// connections); Orleans' own defaults hold votes back for a minute after a silo's connection last carried a message.
/// The price: a silo that merely stalls that long (a long GC pause, an overloaded or swapping machine, a congested
/// network) is declared dead too, and a silo declared dead shuts itself down and must be restarted.
/// </summary>
public sealed class MembershipOptions
{
    /// <summary>
    /// Initial probe timeout and period. Orleans adapts both per monitored silo to the observed round trip, between
    /// half this value and <see cref="MaxProbeTimeout"/>, and lengthens them while this silo's own health is degraded.
    /// </summary>
    public TimeSpan ProbeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Longest that Orleans' adapted probe timeout may grow to (Orleans' default: four times
    /// <see cref="ProbeTimeout"/>). It also sets how long a silo is not voted against after its connection last
    /// carried a message (this value × <see cref="NumMissedProbesLimit"/>), which is what decides how soon a silo
    /// that hangs, rather than exits, is declared dead: measured 27 s with Orleans' default (8 s for a 2 s
    /// <see cref="ProbeTimeout"/>), 10 s with 3 s.
    /// </summary>
    public TimeSpan MaxProbeTimeout { get; set; } = TimeSpan.FromSeconds(3);

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

        if (MaxProbeTimeout < ProbeTimeout || MaxProbeTimeout > TimeSpan.FromMinutes(5))
        {
            return prefix + "MaxProbeTimeout must be between ProbeTimeout and 00:05:00.";
        }

        if (NumMissedProbesLimit is < 1 or > 10)
        {
            return prefix + "NumMissedProbesLimit must be between 1 and 10.";
        }

        if (NumVotesForDeathDeclaration is < 1 or > 10)
        {
            return prefix + "NumVotesForDeathDeclaration must be between 1 and 10.";
        }

        // A vote must outlive the slowest verdict of another voter (every probe at the longest adapted timeout), or
        // two votes never count together and no silo is ever declared dead.
        var slowestVerdict = MaxProbeTimeout * NumMissedProbesLimit;
        if (DeathVoteExpirationTimeout < slowestVerdict || DeathVoteExpirationTimeout > TimeSpan.FromHours(1))
        {
            return prefix + $"DeathVoteExpirationTimeout must be between MaxProbeTimeout × NumMissedProbesLimit ({slowestVerdict:c}) and 01:00:00.";
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
