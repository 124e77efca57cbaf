using Elemta.Storage.Migrations;
using Npgsql;

namespace Elemta.Storage.Postgres;

/// <summary>
/// The shared PostgreSQL database of an Elemta cluster: one pooled <see cref="NpgsqlDataSource"/> per process for
/// Elemta's own tables. Every write is one transaction on a pooled connection (PostgreSQL's own commit pipeline does
/// what SQLite's group-commit writer does by hand); a unit of work that fails with a transient error (connection
/// lost, server starting or shutting down, serialisation failure, deadlock) is retried from the start.
/// </summary>
public sealed class PostgresDatabase : IAsyncDisposable
{
    private readonly NpgsqlDataSource _dataSource;
    private readonly PostgresStorageOptions _options;

    /// <summary>Creates the handle; connections are opened on first use.</summary>
    public PostgresDatabase(string connectionString, PostgresStorageOptions? options = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(connectionString);
        _options = options ?? new PostgresStorageOptions();
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxPoolSize = _options.MaxPoolSize,
            CommandTimeout = (int)Math.Ceiling(_options.CommandTimeout.TotalSeconds),
        };
        ConnectionString = builder.ConnectionString;
        // Orleans opens its own connections (its own pool) with the same server and credentials, kept smaller:
        // membership heartbeats and grain state are a fraction of Elemta's traffic.
        OrleansConnectionString = OrleansConnectionStringFor(connectionString, _options);
        _dataSource = NpgsqlDataSource.Create(ConnectionString);
    }

    /// <summary>The connection string Elemta's pool uses.</summary>
    public string ConnectionString { get; }

    /// <summary>The connection string for Orleans' ADO.NET providers (clustering, grain storage, reminders).</summary>
    public string OrleansConnectionString { get; }

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
    /// Applies pending migrations (Orleans' tables and queries, Elemta's tables). Must run before the Orleans silo
    /// starts, since Orleans reads its queries from <c>OrleansQuery</c> during start-up. Safe when several silos
    /// start at once: the runner holds a cluster-wide advisory lock.
    /// </summary>
    public async Task<IReadOnlyList<Migration>> MigrateAsync(CancellationToken cancellationToken)
    {
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        return await MigrationRunner.ApplyAsync(connection, MigrationRunner.Load("Postgres"), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Opens a pooled connection, retrying transient failures to connect.</summary>
    public Task<NpgsqlConnection> OpenAsync(CancellationToken cancellationToken) =>
        RetryAsync(ct => _dataSource.OpenConnectionAsync(ct).AsTask(), cancellationToken);

    /// <summary>Runs a read on a pooled connection; the whole read is retried after a transient failure.</summary>
    internal Task<T> ReadAsync<T>(Func<NpgsqlConnection, CancellationToken, Task<T>> read, CancellationToken cancellationToken) =>
        RetryAsync(async ct =>
        {
            await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            return await read(connection, ct).ConfigureAwait(false);
        }, cancellationToken);

    /// <summary>
    /// Runs <paramref name="work"/> in one transaction and commits it; after a transient failure the whole unit is
    /// retried, so it must be safe to apply twice (every Elemta write is an upsert, a conditional update or a
    /// delete; only the per-minute outcome counters can count a retried outcome twice).
    /// </summary>
    internal Task<T> WriteAsync<T>(Func<NpgsqlConnection, NpgsqlTransaction, CancellationToken, Task<T>> work, CancellationToken cancellationToken) =>
        RetryAsync(async ct =>
        {
            await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var transaction = await connection.BeginTransactionAsync(ct).ConfigureAwait(false);
            var result = await work(connection, transaction, ct).ConfigureAwait(false);
            await transaction.CommitAsync(ct).ConfigureAwait(false);
            return result;
        }, cancellationToken);

    /// <summary>Runs one batch of statements as one transaction (one round trip), with retries as <see cref="WriteAsync{T}"/>.</summary>
    internal Task WriteBatchAsync(Action<NpgsqlBatch> build, CancellationToken cancellationToken) =>
        RetryAsync(async ct =>
        {
            await using var connection = await _dataSource.OpenConnectionAsync(ct).ConfigureAwait(false);
            await using var batch = connection.CreateBatch();
            build(batch);
            // A batch without an explicit transaction runs in one implicit transaction: all of it commits or none.
            await batch.ExecuteNonQueryAsync(ct).ConfigureAwait(false);
            return true;
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
    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();
}
