using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Tests;

public sealed class DurabilityTests : IAsyncLifetime
{
    private TempDatabase _temp = null!;

    public async Task InitializeAsync() => _temp = await TempDatabase.CreateAsync();

    public async Task DisposeAsync() => await _temp.DisposeAsync();

    [Fact]
    public async Task Read_connection_syncs_fully()
    {
        await using var connection = await _temp.Database.OpenAsync(CancellationToken.None);

        Assert.Equal(2L, Pragma(connection, "synchronous"));
        Assert.Equal(30000L, Pragma(connection, "busy_timeout"));
    }

    [Fact]
    public async Task Pooled_connection_handed_out_again_still_syncs_fully()
    {
        SQLitePCL.sqlite3? physical;
        await using (var first = await _temp.Database.OpenAsync(CancellationToken.None))
        {
            physical = first.Handle;
        }

        await using var second = await _temp.Database.OpenAsync(CancellationToken.None);

        AssertSameAndConfigured(physical, second);
    }

    [Fact]
    public async Task Connection_another_user_of_the_pool_opened_first_is_configured_when_Elemta_gets_it()
    {
        // As Orleans' ADO.NET providers do: the same connection string, so the same pool, and no pragmas.
        SQLitePCL.sqlite3? physical;
        await using (var orleans = new Microsoft.Data.Sqlite.SqliteConnection(_temp.Database.ConnectionString))
        {
            // Closes the pooled connection migration left configured, so this one is a new physical connection.
            Microsoft.Data.Sqlite.SqliteConnection.ClearPool(orleans);
            await orleans.OpenAsync();
            physical = orleans.Handle;
            Assert.Equal(0L, Pragma(orleans, "busy_timeout"));
        }

        await using var elemta = await _temp.Database.OpenAsync(CancellationToken.None);

        AssertSameAndConfigured(physical, elemta);
    }

    [Fact]
    public async Task Pragmas_run_once_per_physical_connection_not_at_every_open()
    {
        // The settings stay on the physical connection between uses, so OpenAsync does not run them again: a
        // setting changed on a borrowed connection (no Elemta code changes any) would be seen by the next borrower.
        await using (var first = await _temp.Database.OpenAsync(CancellationToken.None))
        {
            using var command = first.CreateCommand();
            command.CommandText = "PRAGMA busy_timeout = 1234";
            command.ExecuteNonQuery();
        }

        await using var second = await _temp.Database.OpenAsync(CancellationToken.None);

        Assert.Equal(1234L, Pragma(second, "busy_timeout"));
    }

    [Fact]
    public async Task A_read_connection_given_back_is_lent_again_with_its_statements_and_sees_later_commits()
    {
        var queue = new QueueStore(_temp.Database);
        var t0 = new DateTimeOffset(2026, 3, 2, 10, 0, 0, TimeSpan.Zero);
        Assert.Null(await queue.GetNextDueAsync("example.net", CancellationToken.None));

        SqliteConnection first;
        await using (var reader = await _temp.Database.RentReaderAsync(CancellationToken.None))
        {
            first = reader.Connection;
        }

        // Committed by the writer after the read connection last ran its statement: a cached, reset statement starts
        // a new read transaction, so it sees the commit.
        await queue.UpsertAsync(new QueueEntry("example.net", "m1", 200, t0), CancellationToken.None);
        Assert.Equal(t0, await queue.GetNextDueAsync("example.net", CancellationToken.None));
        await queue.UpsertAsync(new QueueEntry("example.net", "m0", 200, t0.AddMinutes(-1)), CancellationToken.None);
        Assert.Equal(t0.AddMinutes(-1), await queue.GetNextDueAsync("example.net", CancellationToken.None));

        await using var again = await _temp.Database.RentReaderAsync(CancellationToken.None);
        Assert.Same(first, again.Connection);
        Assert.Same(again.Command("SELECT 1"), again.Command("SELECT 1"));
        Assert.Equal(2L, Pragma(again.Connection, "synchronous"));
    }

    [Fact]
    public async Task Read_connections_in_use_at_once_are_distinct_and_all_come_back()
    {
        var lent = new List<Sqlite.SqliteReadConnection>();
        for (var i = 0; i < 3; i++)
        {
            lent.Add(await _temp.Database.RentReaderAsync(CancellationToken.None));
        }

        Assert.Equal(3, lent.Select(r => r.Connection).Distinct().Count());
        foreach (var reader in lent)
        {
            await reader.DisposeAsync();
        }

        var back = new HashSet<SqliteConnection>();
        for (var i = 0; i < 3; i++)
        {
            back.Add((await _temp.Database.RentReaderAsync(CancellationToken.None)).Connection);
        }

        Assert.True(back.SetEquals(lent.Select(r => r.Connection)));
    }

    [Fact]
    public async Task Group_commit_writer_connection_syncs_fully()
    {
        // The writer's connection is the one whose commits the SMTP 250 depends on.
        object? synchronous = null;
        object? journal = null;
        await _temp.Database.ExecuteAsync(context =>
        {
            synchronous = context.Command("PRAGMA synchronous").ExecuteScalar();
            journal = context.Command("PRAGMA journal_mode").ExecuteScalar();
        }, CancellationToken.None);

        Assert.Equal(2L, synchronous);
        Assert.Equal("wal", journal);
    }

    private static object? Pragma(Microsoft.Data.Sqlite.SqliteConnection connection, string name)
    {
        using var command = connection.CreateCommand();
        command.CommandText = $"PRAGMA {name}";
        return command.ExecuteScalar();
    }

    /// <summary>The pool handed out <paramref name="physical"/> again, and it runs with Elemta's durability settings.</summary>
    private static void AssertSameAndConfigured(SQLitePCL.sqlite3? physical, SqliteConnection connection)
    {
        Assert.Same(physical, connection.Handle);
        Assert.Equal(2L, Pragma(connection, "synchronous"));
        Assert.Equal(30000L, Pragma(connection, "busy_timeout"));
    }
}
