using System.Collections.Concurrent;
using System.Data.Common;
using System.Runtime.CompilerServices;
using Elemta.Storage.Migrations;
using Elemta.Storage.Relational;
using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace Elemta.Storage.Sqlite;

/// <summary>
/// The embedded SQLite database: one file in WAL mode, written through a single group-commit writer and read
/// through pooled connections. Orleans' ADO.NET providers open their own connections to the same file.
/// </summary>
public sealed class SqliteDatabase : StoreDatabase
{
    /// <summary>
    /// Orleans' ADO.NET key for SQLite. It keeps the historical name, but Orleans 10 maps it to the
    /// Microsoft.Data.Sqlite driver that this assembly references.
    /// </summary>
    public const string Invariant = "System.Data.SQLite";

    // Enough idle readers for the concurrent reads of a busy silo; more are closed on return rather than kept.
    private const int MaxIdleReaders = 16;

    private readonly Lazy<SqliteWriter> _writer;
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
        : base(SqlDialect.Sqlite)
    {
        var builder = new SqliteConnectionStringBuilder(connectionString)
        {
            Pooling = true,
            Mode = SqliteOpenMode.ReadWriteCreate,
        };
        ConnectionString = builder.ToString();
        _writer = new Lazy<SqliteWriter>(() => new SqliteWriter(OpenWriterConnection()));
    }

    /// <inheritdoc />
    /// <remarks>The embedded file has a single silo: it is always migrated at start.</remarks>
    public override bool MigrateAtStart => true;

    /// <inheritdoc />
    public override string OrleansInvariant => Invariant;

    /// <inheritdoc />
    public override string OrleansConnectionString => ConnectionString;

    /// <summary>The connection string in use (also handed to Orleans' ADO.NET providers).</summary>
    public string ConnectionString { get; }

    /// <summary>The connection string for the SQLite file <paramref name="path"/>.</summary>
    public static string ConnectionStringFor(string path) =>
        new SqliteConnectionStringBuilder { DataSource = path, Pooling = true }.ToString();

    /// <inheritdoc />
    internal override Task WriteAsync(WriteBatch batch, CancellationToken cancellationToken) => _writer.Value.WriteAsync(batch, cancellationToken);

    /// <summary>Runs <paramref name="apply"/> inside the writer's transaction, grouped like any batch (tests hold the writer with it).</summary>
    internal Task ExecuteAsync(Action<WriteContext> apply, CancellationToken cancellationToken)
    {
        var batch = new WriteBatch();
        batch.AddCustom(apply);
        return WriteAsync(batch, cancellationToken);
    }

    /// <inheritdoc />
    internal override async Task<T> ReadAsync<T>(Func<ReadSession, CancellationToken, Task<T>> read, CancellationToken cancellationToken, bool snapshot = false)
    {
        await using var connection = await RentReaderAsync(cancellationToken).ConfigureAwait(false);
        if (!snapshot)
        {
            return await read(connection, cancellationToken).ConfigureAwait(false);
        }

        // A deferred read transaction: in WAL mode every statement in it sees the same snapshot.
        await using var transaction = connection.Connection.BeginTransaction(deferred: true);
        connection.Transaction = transaction;
        try
        {
            return await read(connection, cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            connection.Transaction = null;
        }
    }

    /// <inheritdoc />
    public override string? LocalDirectory =>
        Path.GetDirectoryName(Path.GetFullPath(new SqliteConnectionStringBuilder(ConnectionString).DataSource));

    /// <inheritdoc />
    public override bool IsOutOfSpace(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            // SQLITE_FULL (13): "database or disk is full"; ENOSPC (28) from a file write outside SQLite.
            if (e is SqliteException { SqliteErrorCode: 13 } or IOException { HResult: 28 })
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>
    /// Creates the file if needed, switches it to WAL and applies pending migrations. Must run before the Orleans
    /// silo starts, since Orleans reads its queries from <c>OrleansQuery</c> during start-up.
    /// </summary>
    public override async Task<IReadOnlyList<Migration>> MigrateAsync(CancellationToken cancellationToken)
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

        return await MigrationRunner.ApplyAsync(connection, MigrationRunner.Load(Dialect.MigrationsFolder), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    /// <remarks>A file that does not exist yet has nothing applied; it is not created (the silo or <c>db migrate</c> does that).</remarks>
    public override async Task<SchemaStatus> GetSchemaStatusAsync(CancellationToken cancellationToken)
    {
        var shipped = MigrationRunner.Load(Dialect.MigrationsFolder);
        if (!File.Exists(Location))
        {
            return new SchemaStatus([], shipped);
        }

        var builder = new SqliteConnectionStringBuilder(ConnectionString) { Mode = SqliteOpenMode.ReadOnly, Pooling = false };
        await using var connection = new SqliteConnection(builder.ToString());
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return await MigrationRunner.GetStatusAsync(connection, shipped, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override string Location => Path.GetFullPath(new SqliteConnectionStringBuilder(ConnectionString).DataSource);

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
    public override async ValueTask DisposeAsync()
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

    /// <summary>
    /// The single writer: SQLite allows one at a time, so all of Elemta's writes go through one connection, its
    /// statements prepared once, its commits grouped.
    /// </summary>
    private sealed class SqliteWriter : GroupCommitWriter
    {
        // Bounds the work (and the latency of the first write) in one transaction.
        private const int MaxBatches = 512;

        private readonly SqliteConnection _connection;
        private readonly SqliteCommandCache _commands;
        private readonly Context _context;

        public SqliteWriter(SqliteConnection connection)
            : base(MaxBatches)
        {
            _connection = connection;
            _commands = new SqliteCommandCache(connection);
            _context = new Context(this);
            // One loop on a dedicated thread: SQLite calls are synchronous, and one writer is all SQLite allows anyway.
            Start(loops: 1, dedicatedThreads: true);
        }

        protected override ValueTask CommitAsync(List<WriteBatch> group)
        {
            using var transaction = _connection.BeginTransaction(deferred: false);
            _context.Current = transaction;
            try
            {
                foreach (var batch in group)
                {
                    batch.ResetResults();
                    foreach (var statement in batch.Statements)
                    {
                        Execute(statement);
                    }
                }

                transaction.Commit();
            }
            finally
            {
                _context.Current = null;
            }

            return ValueTask.CompletedTask;
        }

        private void Execute(BatchStatement statement)
        {
            if (statement.Kind == StatementKind.Custom)
            {
                statement.Custom!(_context);
                return;
            }

            var command = (SqliteCommand)_context.Command(statement.Sql);
            foreach (var (name, value) in statement.Parameters)
            {
                command.Parameters.AddWithValue(name, value ?? DBNull.Value);
            }

            if (statement.Kind == StatementKind.NonQuery)
            {
                statement.RowsAffected = command.ExecuteNonQuery();
                return;
            }

            using var reader = command.ExecuteReader();
            while (reader.Read())
            {
                statement.AddString(reader.GetString(0));
            }
        }

        public override async ValueTask DisposeAsync()
        {
            await base.DisposeAsync().ConfigureAwait(false);
            await _commands.DisposeCommandsAsync().ConfigureAwait(false);
            await _connection.DisposeAsync().ConfigureAwait(false);
        }

        private sealed class Context(SqliteWriter owner) : WriteContext
        {
            public SqliteTransaction? Current { get; set; }

            public override DbConnection Connection => owner._connection;

            public override DbTransaction Transaction => Current ?? throw new InvalidOperationException("No write transaction is open.");

            public override DbCommand Command(string sql)
            {
                var command = owner._commands.Get(sql);
                command.Transaction = Current;
                return command;
            }
        }
    }
}
