using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary><c>Elemta:Cluster:Tls</c> is checked before the silo starts: each problem is one line naming the key.</summary>
public sealed class ClusterTlsConfigurationTests
{
    [Fact]
    public async Task A_missing_certificate_file_stops_the_start_with_one_line_naming_the_key()
    {
        using var data = new TempDirectory();
        using var authority = new TestCertificateAuthority();
        var ca = Path.Combine(data.Path, "ca.crt");
        authority.WriteRootPem(ca);
        var missing = Path.Combine(data.Path, "no-such.crt");
        var (code, output) = await SiloProcess.RunToExitAsync(
            "--data", data.Path, $"--Elemta:Cluster:Tls:CertificatePath={missing}", $"--Elemta:Cluster:Tls:CaPath={ca}");

        Assert.Equal(2, code);
        Assert.Equal($"elemta: configuration error: Elemta:Cluster:Tls:CertificatePath: file {missing} not found.", output.Trim());
    }

    [Fact]
    public async Task A_certificate_without_a_ca_is_refused()
    {
        using var data = new TempDirectory();
        using var authority = new TestCertificateAuthority();
        using var certificate = authority.IssuePeerCertificate("silo.elemta.test");
        var (crt, key) = TestCertificateAuthority.WritePemFiles(certificate, data.Path, "silo");
        var (code, output) = await SiloProcess.RunToExitAsync(
            "--data", data.Path, $"--Elemta:Cluster:Tls:CertificatePath={crt}", $"--Elemta:Cluster:Tls:KeyPath={key}");

        Assert.Equal(2, code);
        Assert.StartsWith("elemta: configuration error: Elemta:Cluster:Tls:CaPath must name the CA certificate", output.Trim(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Required_tls_without_a_certificate_stops_a_cluster_silo()
    {
        using var data = new TempDirectory();
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("tlsrequired");
        var (code, output) = await SiloProcess.RunToExitAsync(
            "--data", data.Path, "--Elemta:Storage:Provider=PostgreSQL", $"--Elemta:Storage:ConnectionString={connectionString}",
            "--Elemta:Cluster:Tls:Required=true");

        Assert.Equal(2, code);
        Assert.StartsWith("elemta: configuration error: Elemta:Cluster:Tls:Required is true but Elemta:Cluster:Tls:CertificatePath is not set", output.Trim(), StringComparison.Ordinal);
    }
}
