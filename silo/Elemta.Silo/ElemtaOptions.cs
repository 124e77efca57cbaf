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
}
