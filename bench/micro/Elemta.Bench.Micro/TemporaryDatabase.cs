using Elemta.Storage;
using Elemta.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Elemta.Bench.Micro;

/// <summary>
/// An embedded database opened as the silo opens it (<c>SqliteDatabase.ConnectionStringFor</c>, then
/// <c>MigrateAsync</c>: WAL, <c>synchronous = FULL</c>, every commit fsync'd), in a fresh directory under the system's
/// temporary directory, deleted afterwards. The fsync cost measured is that file system's.
/// </summary>
internal sealed class TemporaryDatabase : IAsyncDisposable
{
    private readonly string _directory;

    private TemporaryDatabase(string directory, SqliteDatabase database)
    {
        _directory = directory;
        Database = database;
        Messages = new MessageStore(database);
    }

    public SqliteDatabase Database { get; }

    public MessageStore Messages { get; }

    public static async Task<TemporaryDatabase> CreateAsync()
    {
        var directory = Path.Combine(Path.GetTempPath(), "elemta-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(directory);
        var database = new SqliteDatabase(SqliteDatabase.ConnectionStringFor(Path.Combine(directory, "elemta.db")));
        await database.MigrateAsync(CancellationToken.None).ConfigureAwait(false);
        return new TemporaryDatabase(directory, database);
    }

    public async ValueTask DisposeAsync()
    {
        await Database.DisposeAsync().ConfigureAwait(false);
        SqliteConnection.ClearAllPools();
        Directory.Delete(_directory, recursive: true);
    }
}
