using System.Data;
using System.Data.Common;
using Elemta.Storage.Migrations;
using Elemta.Storage.Relational;
using Npgsql;

namespace Elemta.Storage.Postgres;

/// <summary>
/// The shared PostgreSQL database of an Elemta cluster: one pooled <see cref="NpgsqlDataSource"/> per process for
/// Elemta's own tables. Writes are grouped as on SQLite: the batches queued while a commit is in flight go to the
/// server as one <see cref="NpgsqlBatch"/> in one transaction (one round trip, one WAL flush), by a few commit loops
/// so a slow commit does not stall the rest. A group that fails with a transient error (connection lost, server
/// starting or shutting down, serialisation failure, deadlock) is retried from the start.
/// </summary>
public sealed class PostgresDatabase : StoreDatabase
{
    /// <summary>Orleans' ADO.NET key for PostgreSQL (Npgsql).</summary>
    public const string Invariant = "Npgsql";

    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresStorageOptions _options;
    private readonly Lazy<PostgresWriter> _writer;

    /// <summary>Creates the handle; connections are opened on first use.</summary>
    /// <param name="connectionString">An Npgsql connection string.</param>
    /// <param name="options">Pooling, timeouts, retries and writer connections.</param>
    /// <param name="migrateAtStart">Whether the host migrates at start (<c>Elemta:Storage:MigrateAtStart</c>).</param>
    public PostgresDatabase(string connectionString, PostgresStorageOptions? options = null, bool migrateAtStart = true)
        : base(SqlDialect.Postgres)
    {
        MigrateAtStart = migrateAtStart;
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _options = options ?? new PostgresStorageOptions();
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxPoolSize = _options.MaxPoolSize,
            CommandTimeout = (int)Math.Ceiling(_options.CommandTimeout.TotalSeconds),
        };
        if (builder.MaxAutoPrepare == 0)
        {
            // The same few dozen statements run all day: let each connection prepare them once (parse and plan).
            builder.MaxAutoPrepare = 64;
        }

        ConnectionString = builder.ConnectionString;
        // Orleans opens its own connections (its own pool) with the same server and credentials, kept smaller:
        // membership heartbeats and grain state are a fraction of Elemta's traffic.
        OrleansConnectionString = OrleansConnectionStringFor(connectionString, _options);
        _dataSource = NpgsqlDataSource.Create(ConnectionString);
        _writer = new Lazy<PostgresWriter>(() => new PostgresWriter(this));
    }

    /// <summary>The connection string Elemta's pool uses.</summary>
    public string ConnectionString { get; }

    /// <inheritdoc />
    public override bool IsOutOfSpace(Exception exception)
    {
        for (var e = exception; e is not null; e = e.InnerException)
        {
            // 53100 disk_full: the server's own disk (Appendix A of the PostgreSQL manual).
            if (e is Npgsql.PostgresException { SqlState: "53100" })
            {
                return true;
            }
        }

        return false;
    }

    /// <inheritdoc />
    public override string OrleansConnectionString { get; }

    /// <inheritdoc />
    public override string OrleansInvariant => Invariant;

    /// <inheritdoc />
    public override bool MigrateAtStart { get; }

    /// <summary>The connection string Orleans' providers get for <paramref name="connectionString"/>: its own, smaller pool.</summary>
    public static string OrleansConnectionStringFor(string connectionString, PostgresStorageOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        return new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxPoolSize = options.OrleansMaxPoolSize,
            CommandTimeout = (int)Math.Ceiling(options.CommandTimeout.TotalSeconds),
        }.ConnectionString;
    }

    /// <summary>
    /// Applies pending migrations. Safe when several silos start at once: the runner holds a cluster-wide advisory lock.
    /// </summary>
    public override async Task<IReadOnlyList<Migration>> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await MigrationRunner.ApplyAsync(connection, MigrationRunner.Load(Dialect.MigrationsFolder), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async Task<SchemaStatus> GetSchemaStatusAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await MigrationRunner.GetStatusAsync(connection, MigrationRunner.Load(Dialect.MigrationsFolder), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override string Location
    {
        get
        {
            var builder = new NpgsqlConnectionStringBuilder(ConnectionString);
            return $"{builder.Host}:{builder.Port}/{builder.Database ?? builder.Username}";
        }
    }

    /// <summary>Opens a pooled connection, retrying transient failures to connect.</summary>
    public Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) =>
        RetryAsync(ct => _dataSource.OpenConnectionAsync(ct).AsTask(), cancellationToken);

    /// <inheritdoc />
    internal override Task WriteAsync(WriteBatch batch, CancellationToken cancellationToken) => _writer.Value.WriteAsync(batch, cancellationToken);

    /// <inheritdoc />
    /// <remarks>The whole read is retried after a transient failure.</remarks>
    internal override Task<T> ReadAsync<T>(Func<ReadSession, CancellationToken, Task<T>> read, CancellationToken cancellationToken, bool snapshot = false) =>
        RetryAsync(async ct =>
        {
            await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var transaction = snapshot ? await connection.BeginTransactionAsync(IsolationLevel.RepeatableRead, ct).ConfigureAwait(false) : null;
            var session = new Session(connection, transaction);
            try
            {
                var result = await read(session, ct).ConfigureAwait(false);
                if (transaction is not null)
                {
                    await transaction.CommitAsync(ct).ConfigureAwait(false);
                }

                return result;
            }
            finally
            {
                await session.DisposeAsync().ConfigureAwait(false);
            }
        }, cancellationToken);

    private async Task<T> RetryAsync<T>(Func<CancellationToken, Task<T>> work, CancellationToken cancellationToken)
    {
        var delay = _options.RetryDelay;
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                return await work(cancellationToken).ConfigureAwait(false);
            }
            catch (NpgsqlException ex) when (ex.IsTransient && attempt < _options.TransientRetries && !cancellationToken.IsCancellationRequested)
            {
                await Task.Delay(delay, cancellationToken).ConfigureAwait(false);
                delay += delay;
            }
        }
    }

    /// <inheritdoc />
    public override async ValueTask DisposeAsync()
    {
        if (_writer.IsValueCreated)
        {
            await _writer.Value.DisposeAsync().ConfigureAwait(false);
        }

        await _dataSource.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>A read connection whose commands are disposed with it.</summary>
    private sealed class Session(NpgsqlConnection connection, NpgsqlTransaction? transaction) : ReadSession, IAsyncDisposable
    {
        private readonly List<NpgsqlCommand> _commands = [];

        public override DbCommand Command(string sql)
        {
            var command = new NpgsqlCommand(sql, connection, transaction);
            _commands.Add(command);
            return command;
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var command in _commands)
            {
                await command.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>Commits each group of batches as one <see cref="NpgsqlBatch"/>: one round trip, one implicit transaction.</summary>
    private sealed class PostgresWriter : GroupCommitWriter
    {
        private const int MaxBatches = 256;
        private readonly PostgresDatabase _owner;

        public PostgresWriter(PostgresDatabase owner)
            : base(MaxBatches)
        {
            _owner = owner;
            // A few loops: while one group waits for its commit, the next can already go out on another connection.
            Start(owner._options.WriterConnections, dedicatedThreads: false);
        }

        protected override async ValueTask CommitAsync(List<WriteBatch> group) =>
            await _owner.RetryAsync(async ct =>
            {
                await using var connection = await _owner._dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
                await using var batch = connection.CreateBatch();
                var hasQueries = false;
                foreach (var unit in group)
                {
                    unit.ResetResults();
                    hasQueries |= unit.HasQueries;
                    foreach (var statement in unit.Statements)
                    {
                        if (statement.Kind == StatementKind.Custom)
                        {
                            throw new NotSupportedException("Custom write work is SQLite's (incremental BLOB I/O); PostgreSQL batches statements only.");
                        }

                        var command = new NpgsqlBatchCommand(statement.Sql);
                        foreach (var (name, value) in statement.Parameters)
                        {
                            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
                        }

                        batch.BatchCommands.Add(command);
                    }
                }

                // A batch without an explicit transaction runs in one implicit transaction: all of it commits or none.
                if (hasQueries)
                {
                    await ReadQueriesAsync(batch, group, ct).ConfigureAwait(false);
                }
                else
                {
                    await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
                }

                var index = 0;
                foreach (var unit in group)
                {
                    foreach (var statement in unit.Statements)
                    {
                        statement.RowsAffected = batch.BatchCommands[index++].RecordsAffected;
                    }
                }

                return true;
            }, CancellationToken.None).ConfigureAwait(false);

        // Npgsql's reader skips the results of statements that return no rows, so the result sets met here are the
        // queries', in the batch's order.
        private static async Task ReadQueriesAsync(NpgsqlBatch batch, List<WriteBatch> group, CancellationToken cancellationToken)
        {
            await using var reader = await batch.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            var first = true;
            foreach (var unit in group)
            {
                foreach (var statement in unit.Statements)
                {
                    if (statement.Kind != StatementKind.StringQuery)
                    {
                        continue;
                    }

                    if (!first && !await reader.NextResultAsync(cancellationToken).ConfigureAwait(false))
                    {
                        throw new InvalidOperationException("The batch returned fewer result sets than it has queries.");
                    }

                    first = false;
                    while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
                    {
                        statement.AddString(reader.GetString(0));
                    }
                }
            }

            while (await reader.NextResultAsync(cancellationToken).ConfigureAwait(false))
            {
                // Consume the rest, so every statement has run and reported its row count.
            }
        }
    }
}
