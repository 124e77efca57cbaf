namespace Elemta.ClusterTls;

/// <summary>
/// Where a node's cluster certificate, its key and the cluster's certificate authority are
/// (<c>Elemta:Cluster:Tls</c> on a silo; the same names on <c>ElemtaClientOptions</c>).
/// </summary>
public class ClusterTlsSettings
{
    /// <summary>
    /// This node's certificate: PEM (with its key in the same file, or in <see cref="KeyPath"/>), or PKCS#12
    /// (<c>.pfx</c>, <c>.p12</c>, key included). A silo presents it to clients and to other silos in both directions,
    /// so it needs both the serverAuth and the clientAuth extended key usage (or none); a client presents it to the
    /// gateway (clientAuth). Empty: no TLS.
    /// </summary>
    public string? CertificatePath { get; set; }

    /// <summary>The private key of a PEM certificate, when it is not in the certificate's file.</summary>
    public string? KeyPath { get; set; }

    /// <summary>The password of a PKCS#12 certificate file, or of an encrypted PEM key; empty when there is none.</summary>
    public string? Password { get; set; }

    /// <summary>
    /// The root certificate (PEM; several may be concatenated) that every peer's certificate must chain to. A peer
    /// is authenticated by holding a certificate this CA issued, not by its host name, so the CA must issue
    /// certificates for this cluster only.
    /// </summary>
    public string? CaPath { get; set; }

    /// <summary>Whether TLS is configured (a certificate path is given).</summary>
    public bool Enabled => !string.IsNullOrWhiteSpace(CertificatePath);
}
