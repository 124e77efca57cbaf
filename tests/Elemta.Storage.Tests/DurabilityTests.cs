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
        await using (var first = await _temp.Database.OpenAsync(CancellationToken.None))
        {
            using var command = first.CreateCommand();
            command.CommandText = "PRAGMA synchronous = OFF";
            command.ExecuteNonQuery();
        }

        await using var second = await _temp.Database.OpenAsync(CancellationToken.None);

        Assert.Equal(2L, Pragma(second, "synchronous"));
    }

    [Fact]
    public async Task Group_commit_writer_connection_syncs_fully()
    {
        // The writer's connection is the one whose commits the SMTP 250 depends on.
        object? synchronous = null;
        object? journal = null;
        await _temp.Database.Writer.ExecuteAsync(context =>
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
}
