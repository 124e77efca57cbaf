using Orleans.Hosting;

namespace Elemta.ClusterTls;

/// <summary>Mutual TLS on an Orleans silo or client from <see cref="ClusterCertificates"/>.</summary>
public static class ClusterTlsBuilderExtensions
{
    /// <summary>
    /// TLS on the silo's inbound silo and gateway connections and its outbound silo connections: a caller without a
    /// certificate from the cluster CA is dropped during the handshake, before any message is read.
    /// </summary>
    public static ISiloBuilder UseClusterTls(this ISiloBuilder builder, ClusterCertificates certificates)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        return builder.UseTls(certificates.Configure);
    }

    /// <summary>TLS on the client's gateway connections, presenting the client's certificate.</summary>
    public static IClientBuilder UseClusterTls(this IClientBuilder builder, ClusterCertificates certificates)
    {
        ArgumentNullException.ThrowIfNull(certificates);
        return builder.UseTls(certificates.Configure);
    }
}
