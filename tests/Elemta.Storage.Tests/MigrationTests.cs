using Elemta.Storage.Migrations;
using Elemta.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Tests;

public sealed class MigrationTests
{
    private static readonly int[] AllVersions = [1, 2, 3, 4, 5, 6, 7];

    [Fact]
    public void Load_returns_the_shipped_sqlite_migrations_in_version_order()
    {
        var migrations = MigrationRunner.Load("Sqlite");

        Assert.Equal(AllVersions, migrations.Select(m => m.Version));
        Assert.Equal(["0001_orleans_query", "0002_orleans_persistence", "0003_elemta_queue", "0004_elemta_queue_states", "0005_elemta_audit", "0006_elemta_message_priority", "0007_elemta_one_message_counter"], migrations.Select(m => m.Name));
        Assert.All(migrations, m => Assert.False(string.IsNullOrWhiteSpace(m.Sql)));
    }

    [Fact]
    public void Load_of_an_unknown_provider_returns_nothing()
    {
        Assert.Empty(MigrationRunner.Load("NoSuchProvider"));
    }

    [Fact]
    public async Task MigrateAsync_on_a_fresh_file_applies_every_migration_and_records_it()
    {
        await using var temp = await TempDatabase.CreateAsync(migrate: false);

        var applied = await temp.Database.MigrateAsync(CancellationToken.None);

        Assert.Equal(AllVersions, applied.Select(m => m.Version));
        using var connection = temp.OpenIndependentConnection();
        var recorded = ReadRecordedMigrations(connection);
        Assert.Equal(MigrationRunner.Load("Sqlite").Select(m => (m.Version, m.Name)), recorded.Select(r => (r.Version, r.Name)));
        Assert.All(recorded, r => Assert.True(DateTimeOffset.TryParse(r.AppliedAt, System.Globalization.CultureInfo.InvariantCulture, out _), r.AppliedAt));
        Assert.Equal(AllVersions[^1], await MigrationRunner.GetCurrentVersionAsync(connection, CancellationToken.None));
        Assert.Superset(
            new HashSet<string> { "OrleansQuery", "OrleansStorage", "elemta_message_body", "elemta_queue", "elemta_audit", "elemta_schema_migrations" },
            TableNames(connection));
    }

    [Fact]
    public async Task MigrateAsync_creates_the_directory_of_the_file()
    {
        await using var temp = await TempDatabase.CreateAsync(migrate: false);
        var nested = Path.Combine(temp.Directory, "a", "b", "nested.db");
        await using var database = new SqliteDatabase(SqliteDatabase.ConnectionStringFor(nested));

        var applied = await database.MigrateAsync(CancellationToken.None);

        Assert.Equal(AllVersions.Length, applied.Count);
        Assert.True(File.Exists(nested));
        using var connection = new SqliteConnection(database.ConnectionString);
        SqliteConnection.ClearPool(connection);
    }

    [Fact]
    public async Task MigrateAsync_again_applies_nothing()
    {
        await using var temp = await TempDatabase.CreateAsync();

        var again = await temp.Database.MigrateAsync(CancellationToken.None);
        var afterRestart = await temp.Open().MigrateAsync(CancellationToken.None);

        Assert.Empty(again);
        Assert.Empty(afterRestart);
        using var connection = temp.OpenIndependentConnection();
        Assert.Equal(AllVersions, ReadRecordedMigrations(connection).Select(r => r.Version));
    }

    [Fact]
    public async Task MigrateAsync_brings_an_older_database_forward()
    {
        await using var temp = await TempDatabase.CreateAsync(migrate: false);
        await using (var connection = await temp.Database.OpenAsync(CancellationToken.None))
        {
            var first = await MigrationRunner.ApplyAsync(connection, [.. MigrationRunner.Load("Sqlite").Take(1)], CancellationToken.None);
            Assert.Equal([1], first.Select(m => m.Version));
            Assert.Equal(1, await MigrationRunner.GetCurrentVersionAsync(connection, CancellationToken.None));
            Assert.DoesNotContain("OrleansStorage", TableNames(connection));
        }

        var applied = await temp.Database.MigrateAsync(CancellationToken.None);

        Assert.Equal(AllVersions.Skip(1), applied.Select(m => m.Version));
        using var check = temp.OpenIndependentConnection();
        Assert.Equal(AllVersions, ReadRecordedMigrations(check).Select(r => r.Version));
        Assert.Contains("OrleansStorage", TableNames(check));
        Assert.Contains("elemta_queue", TableNames(check));
    }

    [Fact]
    public async Task MigrateAsync_from_two_handles_at_once_applies_each_migration_once()
    {
        await using var temp = await TempDatabase.CreateAsync(migrate: false);
        var other = temp.Open();

        var results = await Task.WhenAll(
            Task.Run(() => temp.Database.MigrateAsync(CancellationToken.None)),
            Task.Run(() => other.MigrateAsync(CancellationToken.None)));

        Assert.Equal(AllVersions, results.SelectMany(r => r).Select(m => m.Version).Order());
        using var connection = temp.OpenIndependentConnection();
        Assert.Equal(AllVersions, ReadRecordedMigrations(connection).Select(r => r.Version));
    }

    [Fact]
    public async Task MigrateAsync_leaves_the_file_in_wal_mode()
    {
        await using var temp = await TempDatabase.CreateAsync();

        using var connection = temp.OpenIndependentConnection();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", command.ExecuteScalar() as string);
    }

    [Fact]
    public async Task Orleans_finds_its_query_keys()
    {
        await using var temp = await TempDatabase.CreateAsync();

        using var connection = temp.OpenIndependentConnection();
        using var command = connection.CreateCommand();
        // Orleans' start-up query for its storage provider.
        command.CommandText = "SELECT QueryKey, QueryText FROM OrleansQuery";
        var keys = new List<string>();
        using (var reader = command.ExecuteReader())
        {
            while (reader.Read())
            {
                keys.Add(reader.GetString(0));
                Assert.False(string.IsNullOrWhiteSpace(reader.GetString(1)));
            }
        }

        Assert.Superset(new HashSet<string> { "WriteToStorageKey", "ReadFromStorageKey", "ClearStorageKey" }, keys.ToHashSet());
    }

    private static List<(int Version, string Name, string AppliedAt)> ReadRecordedMigrations(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT version, name, applied_at FROM elemta_schema_migrations ORDER BY version";
        using var reader = command.ExecuteReader();
        var rows = new List<(int, string, string)>();
        while (reader.Read())
        {
            rows.Add((reader.GetInt32(0), reader.GetString(1), reader.GetString(2)));
        }

        return rows;
    }

    private static HashSet<string> TableNames(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT name FROM sqlite_master WHERE type = 'table'";
        using var reader = command.ExecuteReader();
        var names = new HashSet<string>(StringComparer.Ordinal);
        while (reader.Read())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }

    [Fact]
    public async Task Migrating_a_version_3_queue_lists_its_messages_and_counts_its_entries()
    {
        await using var temp = await TempDatabase.CreateAsync(migrate: false);
        await using (var connection = await temp.Database.OpenAsync(CancellationToken.None))
        {
            await MigrationRunner.ApplyAsync(connection, [.. MigrationRunner.Load("Sqlite").Take(3)], CancellationToken.None);
            await using var seed = connection.CreateCommand();
            seed.CommandText = """
                INSERT INTO elemta_message_body (message_id, created_at, size, content) VALUES ('m1', 1000, 3, x'414243'), ('m2', 2000, 3, x'414243');
                INSERT INTO elemta_queue (domain, message_id, priority, due_at) VALUES ('a.test', 'm1', 100, 1000), ('b.test', 'm1', 100, 1000), ('a.test', 'm2', 200, 5000);
                """;
            await seed.ExecuteNonQueryAsync();
        }

        Assert.Equal([4, 5, 6, 7], (await temp.Database.MigrateAsync(CancellationToken.None)).Select(m => m.Version));

        Assert.Equal(2, temp.Scalar("SELECT SUM(count) FROM elemta_priority_count WHERE state = 0"));
        Assert.Equal(0, temp.Scalar("SELECT COUNT(*) FROM sqlite_master WHERE name = 'elemta_state_count'"));
        Assert.Equal(100, temp.Scalar("SELECT priority FROM elemta_message WHERE message_id = 'm1'"));
        Assert.Equal(2, temp.Scalar("SELECT queued FROM elemta_domain_count WHERE domain = 'a.test'"));
        Assert.Equal(1, temp.Scalar("SELECT queued FROM elemta_domain_count WHERE domain = 'b.test'"));
        Assert.Equal(0, temp.Scalar("SELECT held FROM elemta_queue WHERE message_id = 'm2'"));
    }
}
