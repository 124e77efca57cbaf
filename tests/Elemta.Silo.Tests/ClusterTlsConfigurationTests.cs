using System.Diagnostics;
using Elemta.Client;
using Elemta.Contracts;
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
    public async Task A_misspelt_tls_key_is_refused_with_the_keys_that_exist()
    {
        using var data = new TempDirectory();
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--Elemta:Cluster:Tls:CertPath=/etc/elemta/silo.crt");

        Assert.Equal(2, code);
        Assert.Equal("elemta: configuration error: unknown setting Elemta:Cluster:Tls:CertPath (Elemta:Cluster:Tls has CaPath, CertificatePath, KeyPath, Password, Required)", output.Trim());
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

    [Fact]
    public async Task Certificates_made_with_the_openssl_commands_of_the_docs_secure_a_silo_and_its_client()
    {
        using var data = new TempDirectory();
        var dir = data.Path;
        // The commands of docs/cluster.md, "Closing the gateway: mutual TLS".
        await ShAsync(dir, "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj '/CN=Elemta cluster CA' -keyout ca.key -out ca.crt");
        foreach (var name in new[] { "silo-1", "ops" })
        {
            await ShAsync(dir, $"openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj '/CN={name}' -keyout {name}.key -out {name}.csr");
            await ShAsync(dir, $"openssl x509 -req -in {name}.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 -out {name}.crt "
                + "-extfile <(printf 'basicConstraints=CA:FALSE\\nkeyUsage=digitalSignature\\nextendedKeyUsage=serverAuth,clientAuth')");
        }

        await using var silo = await SiloProcess.StartAsync(Path.Combine(dir, "data"), new Dictionary<string, string>
        {
            ["Elemta:Cluster:Tls:CertificatePath"] = Path.Combine(dir, "silo-1.crt"),
            ["Elemta:Cluster:Tls:KeyPath"] = Path.Combine(dir, "silo-1.key"),
            ["Elemta:Cluster:Tls:CaPath"] = Path.Combine(dir, "ca.crt"),
        });
        Assert.Contains("Cluster ports require mutual TLS: this node is CN=silo-1", silo.Output, StringComparison.Ordinal);

        await using var client = await ElemtaClient.ConnectAsync(new ElemtaClientOptions
        {
            GatewayPort = silo.GatewayPort,
            TlsCertificatePath = Path.Combine(dir, "ops.crt"),
            TlsKeyPath = Path.Combine(dir, "ops.key"),
            TlsCaPath = Path.Combine(dir, "ca.crt"),
        }).WaitAsync(TimeSpan.FromSeconds(60));
        var stats = await client.GetStatisticsAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(0, stats.Messages[MessageQueueState.Active]);
    }

    private static async Task ShAsync(string directory, string command)
    {
        var info = new ProcessStartInfo("/bin/bash") { WorkingDirectory = directory, RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(process.ExitCode == 0, $"{command}\n{await output}{await error}");
    }
}
