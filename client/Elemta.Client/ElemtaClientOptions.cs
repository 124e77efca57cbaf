namespace Elemta.Client;

/// <summary>How <see cref="ElemtaClient"/> reaches the cluster.</summary>
public sealed class ElemtaClientOptions
{
    /// <summary>Gateway port of a silo on this machine (<c>Elemta:Cluster:GatewayPort</c>, default 30000).</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Must match the silo's <c>Elemta:Cluster:ServiceId</c>.</summary>
    public string ServiceId { get; set; } = "elemta";

    /// <summary>Must match the silo's <c>Elemta:Cluster:ClusterId</c>.</summary>
    public string ClusterId { get; set; } = "elemta";
}
