using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary><c>elemta db migrate</c> against a real PostgreSQL database.</summary>
public sealed class DbMigrateCommandTests
{
    [Fact]
    public async Task Db_migrate_applies_the_schema_once_and_then_reports_it_current()
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("cli");
        using var data = new TempDirectory();
        string[] args = ["db", "migrate", "--data", data.Path, "--Elemta:Storage:Provider=PostgreSQL", $"--Elemta:Storage:ConnectionString={connectionString}"];

        // Whatever migrations the build ships: a new one must not need this test changed.
        var shipped = Elemta.Storage.Migrations.MigrationRunner.Load("Postgres");

        var (code, output) = await SiloProcess.RunToExitAsync(args);
        Assert.True(code == 0, output);
        Assert.Contains($"applied {shipped.Count} migration(s) to PostgreSQL", output, StringComparison.Ordinal);

        (code, output) = await SiloProcess.RunToExitAsync(args);
        Assert.True(code == 0, output);
        Assert.Contains($"PostgreSQL schema is current (version {shipped[^1].Version})", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task PostgreSQL_without_a_connection_string_stops_with_the_key_named()
    {
        var (code, output) = await SiloProcess.RunToExitAsync("db", "migrate", "--Elemta:Storage:Provider=PostgreSQL");

        Assert.Equal(2, code);
        Assert.Contains("Elemta:Storage:ConnectionString is required", output, StringComparison.Ordinal);
    }
}
