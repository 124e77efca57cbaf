using Elemta.Storage.Migrations;
using Elemta.Storage.Postgres;
using Npgsql;

namespace Elemta.Storage.Tests;

/// <summary>The versioned migrations on a real PostgreSQL database: fresh, already current, older, and raced.</summary>
public sealed class PostgresMigrationTests
{
    private static readonly int[] AllVersions = [1, 2, 3, 4, 5, 6, 7, 8, 9];

    [Fact]
    public void Load_returns_the_shipped_postgres_migrations_in_version_order()
    {
        Assert.Equal(
            ["0001_orleans_query", "0002_orleans_persistence", "0003_orleans_clustering", "0004_orleans_reminders", "0005_elemta_queue", "0006_elemta_audit", "0007_elemta_message_listing", "0008_elemta_message_priority", "0009_elemta_one_message_counter"],
            MigrationRunner.Load("Postgres").Select(m => m.Name));
    }

    [Fact]
    public async Task A_fresh_database_gets_every_migration_recorded()
    {
        await using var store = await PostgresStoreFixture.CreateAsync(migrate: false);

        var applied = await store.Database.MigrateAsync(CancellationToken.None);

        Assert.Equal(AllVersions, applied.Select(m => m.Version));
        await using var connection = store.OpenIndependentConnection();
        Assert.Equal(AllVersions, await RecordedAsync(connection));
        Assert.Equal(AllVersions[^1], await MigrationRunner.GetCurrentVersionAsync(connection, CancellationToken.None));
        Assert.Superset(
            new HashSet<string> { "orleansquery", "orleansstorage", "orleansmembershiptable", "orleansmembershipversiontable", "orleansreminderstable", "elemta_queue", "elemta_message_body", "elemta_message", "elemta_audit", "elemta_priority_count" },
            await TablesAsync(connection));
    }

    [Fact]
    public async Task A_migrated_database_is_left_as_it_is()
    {
        await using var store = await PostgresStoreFixture.CreateAsync();
        await store.Messages.AcceptAsync(new Contracts.MessageEnvelope("m1", "a@b.test", ["c@d.test"], DateTimeOffset.UnixEpoch, "192.0.2.1", "h", 1, Contracts.MessagePriority.Normal), new byte[] { 1 }, CancellationToken.None);

        Assert.Empty(await store.Database.MigrateAsync(CancellationToken.None));
        var reopened = (PostgresStoreFixture)await store.ReopenAsync();

        Assert.Empty(await reopened.Database.MigrateAsync(CancellationToken.None));
        Assert.Equal(1, store.Scalar("SELECT COUNT(*) FROM elemta_queue"));
        Assert.Equal(1, store.Scalar("SELECT SUM(count) FROM elemta_priority_count"));
    }

    [Fact]
    public async Task An_older_database_is_brought_forward()
    {
        await using var store = await PostgresStoreFixture.CreateAsync(migrate: false);
        await using (var connection = await store.Database.OpenAsync(CancellationToken.None))
        {
            Assert.Equal([1, 2], (await MigrationRunner.ApplyAsync(connection, [.. MigrationRunner.Load("Postgres").Take(2)], CancellationToken.None)).Select(m => m.Version));
            Assert.Equal(2, await MigrationRunner.GetCurrentVersionAsync(connection, CancellationToken.None));
            Assert.DoesNotContain("elemta_queue", await TablesAsync(connection));
        }

        var applied = await store.Database.MigrateAsync(CancellationToken.None);

        Assert.Equal([3, 4, 5, 6, 7, 8, 9], applied.Select(m => m.Version));
        await using var check = store.OpenIndependentConnection();
        Assert.Equal(AllVersions, await RecordedAsync(check));
        Assert.Contains("elemta_queue", await TablesAsync(check));
    }

    [Fact]
    public async Task Silos_migrating_at_once_apply_each_migration_once()
    {
        await using var store = await PostgresStoreFixture.CreateAsync(migrate: false);
        var handles = Enumerable.Range(0, 3).Select(_ => new PostgresDatabase(store.ConnectionString)).ToList();
        try
        {
            var results = await Task.WhenAll(handles.Select(h => Task.Run(() => h.MigrateAsync(CancellationToken.None))));

            Assert.Equal(AllVersions, results.SelectMany(r => r).Select(m => m.Version).Order());
            await using var connection = store.OpenIndependentConnection();
            Assert.Equal(AllVersions, await RecordedAsync(connection));
        }
        finally
        {
            foreach (var handle in handles)
            {
                await handle.DisposeAsync();
            }
        }
    }

    [Fact]
    public async Task An_empty_database_is_at_version_0()
    {
        await using var store = await PostgresStoreFixture.CreateAsync(migrate: false);
        await using var connection = store.OpenIndependentConnection();

        Assert.Equal(0, await MigrationRunner.GetCurrentVersionAsync(connection, CancellationToken.None));
    }

    private static async Task<List<int>> RecordedAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT version FROM elemta_schema_migrations ORDER BY version", connection);
        var versions = new List<int>();
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            versions.Add(reader.GetInt32(0));
        }

        return versions;
    }

    private static async Task<HashSet<string>> TablesAsync(NpgsqlConnection connection)
    {
        await using var command = new NpgsqlCommand("SELECT tablename FROM pg_tables WHERE schemaname = current_schema()", connection);
        var names = new HashSet<string>(StringComparer.Ordinal);
        await using var reader = await command.ExecuteReaderAsync();
        while (await reader.ReadAsync())
        {
            names.Add(reader.GetString(0));
        }

        return names;
    }
}
