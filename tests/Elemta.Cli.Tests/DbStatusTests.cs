using Elemta.Silo.Tests;
using Elemta.Testing;

namespace Elemta.Cli.Tests;

/// <summary><c>elemta db status</c> against a fresh and a migrated database, SQLite and PostgreSQL, and an unreachable one.</summary>
public sealed class DbStatusTests
{
    private static Task<CliResult> ElemtaAsync(params string[] arguments) =>
        ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, .. arguments], null, null);

    [Fact]
    public async Task Sqlite_fresh_database_shows_every_migration_pending_and_none_after_db_migrate()
    {
        using var data = new TempDirectory();

        var fresh = await ElemtaAsync("db", "status", "--json", "--data", data.Path);
        Assert.Equal(7, fresh.ExitCode);
        Assert.Contains("pending; run 'elemta db migrate'", fresh.Error, StringComparison.Ordinal);
        var json = System.Text.Json.JsonDocument.Parse(fresh.Output).RootElement;
        Assert.Equal("SQLite", json.GetProperty("provider").GetString());
        Assert.Equal(Path.Combine(data.Path, "elemta.db"), json.GetProperty("location").GetString());
        Assert.True(json.GetProperty("reachable").GetBoolean());
        Assert.False(json.GetProperty("upToDate").GetBoolean());
        Assert.Equal(0, json.GetProperty("currentVersion").GetInt32());
        Assert.Empty(json.GetProperty("applied").EnumerateArray());
        var pending = json.GetProperty("pending").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Contains("0003_elemta_queue", pending);
        Assert.Equal(json.GetProperty("latestVersion").GetInt32(), pending.Count);
        // Looking does not create the file.
        Assert.False(File.Exists(Path.Combine(data.Path, "elemta.db")));

        Assert.Equal(0, (await ElemtaAsync("db", "migrate", "--data", data.Path)).ExitCode);

        var migrated = (await ElemtaAsync("db", "status", "--json", "--data", data.Path)).Json();
        Assert.True(migrated.GetProperty("upToDate").GetBoolean());
        Assert.Empty(migrated.GetProperty("pending").EnumerateArray());
        Assert.Equal(pending, migrated.GetProperty("applied").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList());
        Assert.All(migrated.GetProperty("applied").EnumerateArray(), m => Assert.NotEqual(System.Text.Json.JsonValueKind.Null, m.GetProperty("appliedAt").ValueKind));

        var table = await ElemtaAsync("db", "status", "--data", data.Path);
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("provider: SQLite", table.Output, StringComparison.Ordinal);
        Assert.Matches(@"schema: version \d+ of \d+, up to date", table.Output);
        Assert.Matches(@"(?m)^VERSION\s+NAME\s+STATE\s+APPLIED", table.Output);
        Assert.Matches(@"(?m)^3\s+0003_elemta_queue\s+applied\s", table.Output);
    }

    [Fact]
    public async Task Postgres_fresh_database_shows_every_migration_pending_and_none_after_db_migrate()
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("dbstatus");
        string[] postgres = ["--Elemta:Storage:Provider=PostgreSQL", $"--Elemta:Storage:ConnectionString={connectionString}"];

        var fresh = await ElemtaAsync(["db", "status", "--json", .. postgres]);
        Assert.Equal(7, fresh.ExitCode);
        var json = System.Text.Json.JsonDocument.Parse(fresh.Output).RootElement;
        Assert.Equal("PostgreSQL", json.GetProperty("provider").GetString());
        Assert.True(json.GetProperty("reachable").GetBoolean());
        Assert.DoesNotContain("Password", json.GetProperty("location").GetString()!, StringComparison.OrdinalIgnoreCase);
        var pending = json.GetProperty("pending").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList();
        Assert.Contains("0005_elemta_queue", pending);
        Assert.Empty(json.GetProperty("applied").EnumerateArray());

        var migrate = await ElemtaAsync(["db", "migrate", .. postgres]);
        Assert.True(migrate.ExitCode == 0, migrate.Error);

        var migrated = (await ElemtaAsync(["db", "status", "--json", .. postgres])).Json();
        Assert.True(migrated.GetProperty("upToDate").GetBoolean());
        Assert.Empty(migrated.GetProperty("pending").EnumerateArray());
        Assert.Equal(pending, migrated.GetProperty("applied").EnumerateArray().Select(m => m.GetProperty("name").GetString()).ToList());
        Assert.Equal(migrated.GetProperty("latestVersion").GetInt32(), migrated.GetProperty("currentVersion").GetInt32());
    }

    [Fact]
    public async Task An_unreachable_postgres_database_exits_4_with_one_line_on_standard_error()
    {
        var port = FreePort.GetTcpPort();
        var result = await ElemtaAsync("db", "status", "--json", "--Elemta:Storage:Provider=PostgreSQL",
            $"--Elemta:Storage:ConnectionString=Host=127.0.0.1;Port={port};Database=nowhere;Username=elemta;Timeout=5",
            "--Elemta:Storage:Postgres:TransientRetries=0");
        Assert.Equal(4, result.ExitCode);
        var json = System.Text.Json.JsonDocument.Parse(result.Output).RootElement;
        Assert.False(json.GetProperty("reachable").GetBoolean());
        Assert.False(string.IsNullOrEmpty(json.GetProperty("error").GetString()));
        var line = Assert.Single(result.Error.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.StartsWith($"elemta: the PostgreSQL database at 127.0.0.1:{port}/nowhere cannot be reached", line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_misspelt_storage_key_is_a_configuration_error_with_exit_2()
    {
        using var data = new TempDirectory();
        var result = await ElemtaAsync("db", "status", "--data", data.Path, "--Elemta:Storage:Provdier=PostgreSQL");
        Assert.Equal(2, result.ExitCode);
        Assert.StartsWith("elemta: configuration error:", result.Error, StringComparison.Ordinal);
        Assert.Contains("Provdier", result.Error, StringComparison.Ordinal);
    }
}
