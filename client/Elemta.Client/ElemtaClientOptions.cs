using Microsoft.Extensions.Options;

namespace Elemta.Client;

/// <summary>How <see cref="ElemtaClient"/> finds the cluster's gateways.</summary>
public enum ElemtaClustering
{
    /// <summary>A silo on this machine, at <see cref="ElemtaClientOptions.GatewayPort"/> on loopback (the embedded default).</summary>
    Localhost = 0,

    /// <summary>A fixed list of gateways, <see cref="ElemtaClientOptions.Gateways"/>.</summary>
    StaticGateways = 1,

    /// <summary>The gateways the silos register in the PostgreSQL membership table (<see cref="ElemtaClientOptions.ConnectionString"/>).</summary>
    PostgreSql = 2,
}

/// <summary>
/// How <see cref="ElemtaClient"/> reaches the cluster (configuration section <c>Elemta:Client</c> by convention).
/// Checked by <see cref="ElemtaClientOptionsValidator"/> before the client connects.
/// </summary>
public sealed class ElemtaClientOptions
{
    /// <summary>The conventional configuration section.</summary>
    public const string SectionName = "Elemta:Client";

    // --- Where the cluster is -------------------------------------------------------------------------------------

    /// <summary>How the gateways are found; <see cref="ElemtaClustering.Localhost"/> by default.</summary>
    public ElemtaClustering Clustering { get; set; } = ElemtaClustering.Localhost;

    /// <summary>Gateway port of a silo on this machine (<c>Elemta:Cluster:GatewayPort</c>, default 30000); <see cref="ElemtaClustering.Localhost"/> only.</summary>
    public int GatewayPort { get; set; } = 30000;

    /// <summary>Gateways as <c>host:port</c> (names are resolved when the client connects); <see cref="ElemtaClustering.StaticGateways"/> only.</summary>
    public IList<string> Gateways { get; } = [];

    /// <summary>The cluster's PostgreSQL connection string (the silos' <c>Elemta:Storage:ConnectionString</c>); <see cref="ElemtaClustering.PostgreSql"/> only.</summary>
    public string? ConnectionString { get; set; }

    /// <summary>Must match the silo's <c>Elemta:Cluster:ServiceId</c>.</summary>
    public string ServiceId { get; set; } = "elemta";

    /// <summary>Must match the silo's <c>Elemta:Cluster:ClusterId</c>.</summary>
    public string ClusterId { get; set; } = "elemta";

    // --- How long to wait -----------------------------------------------------------------------------------------

    /// <summary>How long <see cref="ElemtaClient.ConnectAsync"/> waits for a gateway (default 20 s).</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(20);

    // --- Transport security ---------------------------------------------------------------------------------------

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

/// <summary>Checks <see cref="ElemtaClientOptions"/>: one message per problem, naming the setting.</summary>
public sealed class ElemtaClientOptionsValidator : IValidateOptions<ElemtaClientOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, ElemtaClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (string.IsNullOrWhiteSpace(options.ServiceId))
        {
            failures.Add("ServiceId must not be empty.");
        }

        if (string.IsNullOrWhiteSpace(options.ClusterId))
        {
            failures.Add("ClusterId must not be empty.");
        }

        if (options.ConnectTimeout <= TimeSpan.Zero)
        {
            failures.Add("ConnectTimeout must be positive.");
        }

        switch (options.Clustering)
        {
            case ElemtaClustering.Localhost:
                if (options.GatewayPort is < 1 or > 65535)
                {
                    failures.Add($"GatewayPort must be a TCP port (1-65535), not {options.GatewayPort}.");
                }

                break;
            case ElemtaClustering.StaticGateways:
                if (options.Gateways.Count == 0)
                {
                    failures.Add("Gateways must list at least one host:port with StaticGateways clustering.");
                }

                failures.AddRange(options.Gateways.Where(g => !ElemtaClientConnection.TrySplit(g, out _, out _)).Select(g => $"Gateways: '{g}' is not host:port."));
                break;
            case ElemtaClustering.PostgreSql:
                if (string.IsNullOrWhiteSpace(options.ConnectionString))
                {
                    failures.Add("ConnectionString is required with PostgreSql clustering.");
                }

                break;
            default:
                failures.Add($"Clustering '{options.Clustering}' is not one of Localhost, StaticGateways, PostgreSql.");
                break;
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
