using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Elemta.Storage.Migrations;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Elemta.Storage.Sqlite;

/// <summary>
/// The embedded SQLite database: one file in WAL mode, written through a single group-commit writer and read
/// through pooled connections. Orleans' ADO.NET providers open their own connections to the same file.
/// </summary>
public sealed class SqliteDatabase : IAsyncDisposable
{
    // Enough idle readers for the concurrent reads of a busy silo; more are closed on return rather than kept.
    private const int MaxIdleReaders = 16;

    private readonly Lazy<SqliteGroupCommitWriter> _writer;
    private readonly ConcurrentBag<SqliteReadConnection> _idleReaders = [];
    private int _idleReaderCount;
    private volatile bool _disposed;

    /// <summary>
    /// The physical connections (SQLite handles) that already run with <see cref="ConnectionPragmas"/>. The pool
    /// hands the same handle out again, and its settings persist on it; a handle that is closed drops out of the
    /// table with its handle object, and a new physical connection gets a new one.
    /// </summary>
    private readonly ConditionalWeakTable<sqlite3, object> _configured = [];

    /// <summary>Creates the database handle; nothing is opened until first use.</summary>
    public SqliteDatabase(string connectionString)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString)
        {
            Pooling = true,
            Mode = SqliteOpenMode.ReadWriteCreate,
        };
        ConnectionString = builder.ToString();
        _writer = new Lazy<SqliteGroupCommitWriter>(() => new SqliteGroupCommitWriter(OpenWriterConnection()));
    }

    /// <summary>The connection string in use (also handed to Orleans' ADO.NET providers).</summary>
    public string ConnectionString { get; }

    /// <summary>The connection string for the SQLite file <paramref name="path"/>.</summary>
    public static string ConnectionStringFor(string path) =>
        new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();

    internal SqliteGroupCommitWriter Writer => _writer.Value;

    /// <summary>
    /// Creates the file if needed, switches it to WAL and applies pending migrations. Must run before the Orleans
    /// silo starts, since Orleans reads its queries from <c>OrleansQuery</c> during start-up.
    /// </summary>
    public async Task<IReadOnlyList<Migration>> MigrateAsync(CancellationToken cancellationToken)
    {
        var dataSource = new SqliteConnectionStringBuilder(ConnectionString).DataSource;
        var directory = Path.GetDirectoryName(Path.GetFullPath(dataSource));
        if (!string.IsNullOrEmpty(directory))
        {
            Directory.CreateDirectory(directory);
        }

        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        // WAL lets readers run beside the writer, and its journal mode persists in the file for every connection.
        await using (var command = connection.CreateCommand())
        {
            command.CommandText = "PRAGMA journal_mode = WAL;";
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        return await MigrationRunner.ApplyAsync(connection, MigrationRunner.Load("Sqlite"), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens a pooled connection for reading, configured for durability like every Elemta connection.</summary>
    public async Task<SqliteConnection> OpenAsync(CancellationToken cancellationToken)
    {
        var connection = new SqliteConnection(ConnectionString);
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            // Once per physical connection, not at every Open of a pooled one: the pragmas are connection settings
            // that Microsoft.Data.Sqlite's pool leaves in place (it resets nothing when a connection is returned).
            // Connections Orleans opened from the same pool are configured the first time Elemta gets them.
            var handle = connection.Handle;
            if (handle is null || !_configured.TryGetValue(handle, out _))
            {
                await using var command = connection.CreateCommand();
                command.CommandText = ConnectionPragmas;
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                if (handle is not null)
                {
                    _configured.AddOrUpdate(handle, handle);
                }
            }

            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Lends an open read connection that keeps its prepared statements (<see cref="SqliteReadConnection.Command"/>);
    /// dispose it to give it back.
    /// </summary>
    internal async ValueTask<SqliteReadConnection> RentReaderAsync(CancellationToken cancellationToken)
    {
        if (_idleReaders.TryTake(out var idle))
        {
            Interlocked.Decrement(ref _idleReaderCount);
            return idle;
        }

        return new SqliteReadConnection(this, await OpenAsync(cancellationToken).ConfigureAwait(false));
    }

    internal ValueTask ReturnReaderAsync(SqliteReadConnection reader)
    {
        if (!_disposed && Interlocked.Increment(ref _idleReaderCount) <= MaxIdleReaders)
        {
            _idleReaders.Add(reader);
            return ValueTask.CompletedTask;
        }

        Interlocked.Decrement(ref _idleReaderCount);
        return reader.CloseAsync();
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        while (_idleReaders.TryTake(out var idle))
        {
            Interlocked.Decrement(ref _idleReaderCount);
            await idle.CloseAsync().ConfigureAwait(false);
        }

        if (_writer.IsValueCreated)
        {
            await _writer.Value.DisposeAsync().ConfigureAwait(false);
        }
    }

    // synchronous = FULL syncs the WAL at every commit: a commit that returned is on disk, which is what lets the
    // SMTP front-end answer 250. busy_timeout makes SQLite wait for the write lock instead of failing at once when
    // Orleans' connections and the group-commit writer meet.
    private const string ConnectionPragmas = "PRAGMA synchronous = FULL; PRAGMA busy_timeout = 30000;";

    private SqliteConnection OpenWriterConnection()
    {
        var connection = new SqliteConnection(ConnectionString);
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = ConnectionPragmas;
        command.ExecuteNonQuery();
        return connection;
    }
}
