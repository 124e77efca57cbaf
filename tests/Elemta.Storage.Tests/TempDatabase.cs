using Elemta.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Tests;

/// <summary>A fresh SQLite file in its own temporary directory, removed again on dispose.</summary>
internal sealed class TempDatabase : IAsyncDisposable
{
    private readonly List<SqliteDatabase> _handles = [];

    private TempDatabase(string directory)
    {
        Directory = directory;
        FilePath = Path.Combine(directory, "elemta.db");
        ConnectionString = SqliteDatabase.ConnectionStringFor(FilePath);
        Database = Open();
    }

    public string Directory { get; }

    public string FilePath { get; }

    public string ConnectionString { get; }

    /// <summary>The first handle on the file.</summary>
    public SqliteDatabase Database { get; }

    public static async Task<TempDatabase> CreateAsync(bool migrate = true)
    {
        var directory = Path.Combine(Path.GetTempPath(), "elemta-storage-tests", Guid.NewGuid().ToString("N"));
        System.IO.Directory.CreateDirectory(directory);
        var temp = new TempDatabase(directory);
        if (migrate)
        {
            await temp.Database.MigrateAsync(CancellationToken.None);
        }

        return temp;
    }

    /// <summary>Another handle on the same file, as after a restart; disposed with this object.</summary>
    public SqliteDatabase Open()
    {
        var database = new SqliteDatabase(ConnectionString);
        _handles.Add(database);
        return database;
    }

    /// <summary>
    /// A connection that shares nothing with the handles: no pool, no pragmas. What it sees is what reached the
    /// file (WAL included), not what a cached connection remembers.
    /// </summary>
    public SqliteConnection OpenIndependentConnection()
    {
        var connection = new SqliteConnection(new SqliteConnectionStringBuilder { DataSource = FilePath, Pooling = false }.ToString());
        connection.Open();
        return connection;
    }

    public long Scalar(string sql)
    {
        using var connection = OpenIndependentConnection();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var handle in _handles)
        {
            await handle.DisposeAsync();
        }

        // Only this file's pool: other tests run in parallel with their own files.
        using (var connection = new SqliteConnection(ConnectionString))
        {
            SqliteConnection.ClearPool(connection);
        }

        try
        {
            System.IO.Directory.Delete(Directory, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a leftover temp directory must not fail the test.
        }
    }
}

/// <summary>A clock that stands still, for created_at values.</summary>
internal sealed class FixedTimeProvider(DateTimeOffset now) : TimeProvider
{
    public override DateTimeOffset GetUtcNow() => now;
}
