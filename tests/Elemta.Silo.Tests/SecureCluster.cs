using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using System.Text;
using Elemta.Client;
using Elemta.Testing;
using Npgsql;

namespace Elemta.Silo.Tests;

/// <summary>
/// Two silo processes on one real PostgreSQL database whose Orleans ports require mutual TLS
/// (<c>Elemta:Cluster:Tls</c>), each with its own certificate from one test CA; an SMTP sink for <c>sink.test</c> and
/// a refusing port for <c>held.test</c> (its messages stay deferred for an hour); certificates for clients, one from
/// the cluster CA and one from another CA.
/// </summary>
public sealed class SecureCluster : IAsyncLifetime
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    // Orleans' SiloStatus.Active, as stored in OrleansMembershipTable.Status.
    private const int ActiveStatus = 3;

    private readonly TempDirectory _certificates = new();
    private readonly TempDirectory _dataA = new();
    private readonly TempDirectory _dataB = new();
    private readonly TestCertificateAuthority _authority = new("Elemta Cluster Test CA");
    private readonly TestCertificateAuthority _otherAuthority = new("Some Other CA");
    private Socket _refusing = null!;

    public SiloProcess A { get; private set; } = null!;

    public SiloProcess B { get; private set; } = null!;

    public SmtpSink Sink { get; private set; } = null!;

    public string ConnectionString { get; private set; } = null!;

    public string ClusterId { get; } = "tls-" + Guid.NewGuid().ToString("N")[..8];

    /// <summary>The cluster CA's certificate file.</summary>
    public string CaPath => Path.Combine(_certificates.Path, "ca.crt");

    /// <summary>A client certificate from the cluster CA: PEM certificate and key files.</summary>
    public (string CertificatePath, string KeyPath) ClientCertificate { get; private set; }

    /// <summary>A client certificate from another CA, with that CA's file.</summary>
    public (string CertificatePath, string KeyPath, string CaPath) ForeignCertificate { get; private set; }

    public string AdminPassword { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var server = await PostgresServer.GetAsync();
        ConnectionString = await server.CreateDatabaseAsync("securecluster");
        Sink = SmtpSink.Start(IPAddress.Loopback);
        _refusing = RefusingEndPoint.Bind(IPAddress.Loopback);

        _authority.WriteRootPem(CaPath);
        using (var silo = _authority.IssuePeerCertificate("silo-a.elemta.test"))
        {
            TestCertificateAuthority.WritePemFiles(silo, _certificates.Path, "silo-a");
        }

        using (var silo = _authority.IssuePeerCertificate("silo-b.elemta.test"))
        {
            TestCertificateAuthority.WritePemFiles(silo, _certificates.Path, "silo-b");
        }

        using (var client = _authority.IssuePeerCertificate("operator.elemta.test"))
        {
            ClientCertificate = TestCertificateAuthority.WritePemFiles(client, _certificates.Path, "client");
        }

        using (var foreign = _otherAuthority.IssuePeerCertificate("intruder.elemta.test"))
        {
            var (certificate, key) = TestCertificateAuthority.WritePemFiles(foreign, _certificates.Path, "foreign");
            var otherCa = Path.Combine(_certificates.Path, "other-ca.crt");
            _otherAuthority.WriteRootPem(otherCa);
            ForeignCertificate = (certificate, key, otherCa);
        }

        var settings = new Dictionary<string, string>
        {
            ["Elemta:Storage:Provider"] = "PostgreSQL",
            ["Elemta:Storage:ConnectionString"] = ConnectionString,
            ["Elemta:Cluster:ClusterId"] = ClusterId,
            ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
            ["Elemta:Cluster:Tls:CaPath"] = CaPath,
            ["Elemta:Cluster:Tls:Required"] = "true",
            ["Elemta:Auth:PasswordIterations"] = "10000",
            ["Elemta:Delivery:Routes:sink.test"] = $"127.0.0.1:{Sink.Port}",
            ["Elemta:Delivery:Routes:held.test"] = $"127.0.0.1:{RefusingEndPoint.PortOf(_refusing)}",
            ["Elemta:Delivery:MtaSts:Enabled"] = "false",
            ["Elemta:Delivery:Dane:Enabled"] = "false",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
            ["Elemta:Queue:CircuitBreakerThreshold"] = "0",
            ["Logging:LogLevel:Default"] = "Warning",
            ["Logging:LogLevel:Elemta"] = "Information",
        };
        var a = Start(_dataA, settings, "silo-a");
        var b = Start(_dataB, settings, "silo-b");
        try
        {
            A = await a;
            B = await b;
        }
        catch
        {
            await Task.WhenAll(DisposeStarted(a), DisposeStarted(b));
            throw;
        }

        // Both silos written Active in the membership table: they joined one cluster, which takes talking to each
        // other over the silo port.
        await using var connection = new NpgsqlConnection(ConnectionString);
        await connection.OpenAsync();
        await using var query = new NpgsqlCommand("SELECT count(*) FROM orleansmembershiptable WHERE deploymentid = @cluster AND status = @active", connection);
        query.Parameters.AddWithValue("cluster", ClusterId);
        query.Parameters.AddWithValue("active", ActiveStatus);
        await Eventually.GetAsync(async () => (long)(await query.ExecuteScalarAsync())!, n => n == 2, Timeout, "both silos active in the membership table");

        // The first start writes the admin's password beside its data, in whichever silo created the account.
        var files = new[] { _dataA, _dataB }.Select(d => Path.Combine(d.Path, "initial-admin-password")).ToArray();
        AdminPassword = await Eventually.GetAsync(
            () => Task.FromResult(files.Where(File.Exists).Select(f => File.ReadAllText(f).Trim()).FirstOrDefault() ?? string.Empty),
            p => p.Length > 0, Timeout, "the initial admin password");
    }

    private Task<SiloProcess> Start(TempDirectory data, Dictionary<string, string> settings, string name) =>
        SiloProcess.StartAsync(data.Path, new Dictionary<string, string>(settings)
        {
            ["Elemta:Cluster:Tls:CertificatePath"] = Path.Combine(_certificates.Path, name + ".crt"),
            ["Elemta:Cluster:Tls:KeyPath"] = Path.Combine(_certificates.Path, name + ".key"),
        });

    private static async Task DisposeStarted(Task<SiloProcess> start)
    {
        if (start.IsCompletedSuccessfully)
        {
            await start.Result.DisposeAsync();
        }
    }

    /// <summary>Connects the client SDK to <paramref name="silo"/>'s gateway with the cluster CA's client certificate.</summary>
    public Task<ElemtaClient> ConnectTrustedClientAsync(SiloProcess silo) =>
        ElemtaClient.ConnectAsync(new ElemtaClientOptions
        {
            GatewayPort = silo.GatewayPort,
            ClusterId = ClusterId,
            TlsCertificatePath = ClientCertificate.CertificatePath,
            TlsKeyPath = ClientCertificate.KeyPath,
            TlsCaPath = CaPath,
        });

    /// <summary>An HTTP client for <paramref name="silo"/>'s admin plane, signed in as the initial admin (HTTP Basic).</summary>
    public HttpClient Admin(SiloProcess silo)
    {
        var client = new HttpClient { BaseAddress = silo.HttpUrl, Timeout = Timeout };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{AdminPassword}")));
        return client;
    }

    public async Task DisposeAsync()
    {
        if (A is not null)
        {
            await A.DisposeAsync();
        }

        if (B is not null)
        {
            await B.DisposeAsync();
        }

        if (Sink is not null)
        {
            await Sink.DisposeAsync();
        }

        _refusing?.Dispose();
        _authority.Dispose();
        _otherAuthority.Dispose();
        _dataA.Dispose();
        _dataB.Dispose();
        _certificates.Dispose();
    }
}
