using Elemta.Client;
using Elemta.Silo.Tests;
using Elemta.Testing;

namespace Elemta.Cli.Tests;

/// <summary>The SDK and the CLI find a PostgreSQL cluster's gateways in its membership table, not at a known port.</summary>
public sealed class PostgresClusteringTests
{
    [Fact]
    public async Task The_sdk_and_the_cli_reach_a_postgres_cluster_through_its_membership_table()
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("clients");
        var clusterId = "clients-" + Guid.NewGuid().ToString("N")[..8];
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(Path.Combine(data.Path, "silo"), new Dictionary<string, string>
        {
            ["Elemta:Storage:Provider"] = "PostgreSQL",
            ["Elemta:Storage:ConnectionString"] = connectionString,
            ["Elemta:Cluster:ClusterId"] = clusterId,
            ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
        });

        await using (var client = await ElemtaClient.ConnectAsync(new ElemtaClientOptions { Clustering = ElemtaClustering.PostgreSql, ConnectionString = connectionString, ClusterId = clusterId }))
        {
            var silos = await client.GetClusterAsync();
            Assert.Contains(silos, s => s.Status == "Active" && s.Address.StartsWith("127.0.0.1:", StringComparison.Ordinal));
        }

        // No gateway port given (the default 30000 is not this silo's): the CLI reads the gateways from the table.
        var result = await ClusterFixture.RunAsync("dotnet",
            [SiloProcess.SiloAssembly, "cluster", "status", "--json", "--Elemta:Storage:Provider=PostgreSQL", $"--Elemta:Storage:ConnectionString={connectionString}", $"--Elemta:Cluster:ClusterId={clusterId}"],
            null, null);
        Assert.Equal("Active", result.Json()[0].GetProperty("status").GetString());
    }
}
