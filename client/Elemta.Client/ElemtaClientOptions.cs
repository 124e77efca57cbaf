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

    /// <summary>
    /// The client certificate for a cluster whose silos require mutual TLS (<c>Elemta:Cluster:Tls</c>): PEM (key in
    /// the same file or in <see cref="TlsKeyPath"/>) or PKCS#12, issued by the cluster's CA. Null: no TLS.
    /// </summary>
    public string? TlsCertificatePath { get; set; }

    /// <summary>The private key of a PEM <see cref="TlsCertificatePath"/>, when it is not in the certificate's file.</summary>
    public string? TlsKeyPath { get; set; }

    /// <summary>The password of a PKCS#12 certificate or an encrypted PEM key.</summary>
    public string? TlsPassword { get; set; }

    /// <summary>The cluster CA (PEM) the silo's certificate must chain to; required with <see cref="TlsCertificatePath"/>.</summary>
    public string? TlsCaPath { get; set; }
}
