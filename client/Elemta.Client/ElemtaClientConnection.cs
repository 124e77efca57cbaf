using Elemta.ClusterTls;
using System.Globalization;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Orleans.Configuration;

namespace Elemta.Client;

/// <summary>Turns <see cref="ElemtaClientOptions"/> into an Orleans client configuration.</summary>
internal static class ElemtaClientConnection
{
    /// <summary>Throws <see cref="OptionsValidationException"/> listing every problem of <paramref name="options"/>.</summary>
    public static void Validate(ElemtaClientOptions options)
    {
        var result = new ElemtaClientOptionsValidator().Validate(Options.DefaultName, options);
        if (result.Failed)
        {
            throw new OptionsValidationException(Options.DefaultName, typeof(ElemtaClientOptions), result.Failures);
        }
    }

    public static void Configure(IClientBuilder client, ElemtaClientOptions options)
    {
        switch (options.Clustering)
        {
            case ElemtaClustering.StaticGateways:
                client.UseStaticClustering([.. options.Gateways.SelectMany(Resolve)]);
                break;
            case ElemtaClustering.PostgreSql:
                client.UseAdoNetClustering(o =>
                {
                    o.Invariant = "Npgsql";
                    o.ConnectionString = options.ConnectionString;
                });
                break;
            default:
                client.UseLocalhostClustering(options.GatewayPort, options.ServiceId, options.ClusterId);
                break;
        }

        client.Services.Configure<ClusterOptions>(o =>
        {
            o.ServiceId = options.ServiceId;
            o.ClusterId = options.ClusterId;
        });
        ConfigureTransport(client, options);
    }

    /// <summary>
    /// Mutual TLS to the gateway when <see cref="ElemtaClientOptions.TlsCertificatePath"/> is set: the client presents
    /// its certificate and accepts only a silo whose certificate chains to <see cref="ElemtaClientOptions.TlsCaPath"/>.
    /// </summary>
    private static void ConfigureTransport(IClientBuilder client, ElemtaClientOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.TlsCertificatePath))
        {
            return;
        }

        var certificates = ClusterCertificates.Load(
            new ClusterTlsSettings { CertificatePath = options.TlsCertificatePath, KeyPath = options.TlsKeyPath, Password = options.TlsPassword, CaPath = options.TlsCaPath },
            nameof(ElemtaClientOptions) + ".Tls");
        client.UseClusterTls(certificates);
    }

    public static bool TrySplit(string gateway, out string host, out int port)
    {
        host = string.Empty;
        port = 0;
        var colon = gateway?.LastIndexOf(':') ?? -1;
        if (colon <= 0 || !int.TryParse(gateway.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535)
        {
            return false;
        }

        host = gateway![..colon].Trim('[', ']');
        return host.Length > 0;
    }

    private static IEnumerable<IPEndPoint> Resolve(string gateway)
    {
        TrySplit(gateway, out var host, out var port);
        var addresses = IPAddress.TryParse(host, out var address) ? [address] : Dns.GetHostAddresses(host);
        return addresses.Select(a => new IPEndPoint(a, port));
    }
}
