using System.Data.Common;
using Elemta.Storage.Migrations;

namespace Elemta.Storage.Relational;

/// <summary>
/// Elemta's relational database, whichever the provider: it runs the schema migrations, commits
/// <see cref="WriteBatch"/>es through its group-commit writer and lends read sessions. The stores
/// (<see cref="QueueStore"/>, <see cref="QueueOperations"/>, <see cref="MessageStore"/>, <see cref="AuditLog"/>) are
/// written once against this class and its <see cref="Dialect"/>.
/// </summary>
public abstract class StoreDatabase : IAsyncDisposable
{
    private protected StoreDatabase(SqlDialect dialect) => Dialect = dialect;

    /// <summary>Where the providers' SQL differs, and how.</summary>
    public SqlDialect Dialect { get; }

    /// <summary>Whether the host applies pending migrations at start (always for the embedded file).</summary>
    public abstract bool MigrateAtStart { get; }

    /// <summary>Orleans' ADO.NET invariant for this provider (grain storage, and clustering and reminders where Orleans has scripts).</summary>
    public abstract string OrleansInvariant { get; }

    /// <summary>The connection string Orleans' ADO.NET providers get.</summary>
    public abstract string OrleansConnectionString { get; }

    /// <summary>
    /// The local directory the queue's data lives in, whose free space <see cref="QueueSpace"/> watches; null when the
    /// database is on another machine (PostgreSQL), whose disk its own monitoring watches.
    /// </summary>
    public virtual string? LocalDirectory => null;

    /// <summary>Whether <paramref name="exception"/> says the database's disk is full (rather than any other failure).</summary>
    public abstract bool IsOutOfSpace(Exception exception);

    /// <summary>The newest schema version this build ships for the provider.</summary>
    public int LatestVersion => MigrationRunner.Load(Dialect.MigrationsFolder)[^1].Version;

    /// <summary>
    /// Applies pending migrations (Orleans' tables and queries, Elemta's tables). Must run before the Orleans silo
    /// starts, since Orleans reads its queries from <c>OrleansQuery</c> while starting.
    /// </summary>
    public abstract Task<IReadOnlyList<Migration>> MigrateAsync(CancellationToken cancellationToken);

    /// <summary>
    /// The applied and pending migrations, read without changing anything (no file is created, no table added).
    /// Throws the provider's exception when the database cannot be reached.
    /// </summary>
    public abstract Task<SchemaStatus> GetSchemaStatusAsync(CancellationToken cancellationToken);

    /// <summary>Where the database is, for people: the SQLite file, or the PostgreSQL host, port and database (never a password).</summary>
    public abstract string Location { get; }

    /// <summary>Queues <paramref name="batch"/> for the next group commit; completes once it is durable.</summary>
    internal abstract Task WriteAsync(WriteBatch batch, CancellationToken cancellationToken);

    /// <summary>
    /// Runs <paramref name="read"/> on a lent connection. With <paramref name="snapshot"/> its statements see one
    /// consistent instant (a read transaction).
    /// </summary>
    internal abstract Task<T> ReadAsync<T>(Func<ReadSession, CancellationToken, Task<T>> read, CancellationToken cancellationToken, bool snapshot = false);

    /// <summary>Runs a trivial query: throws when the database cannot be reached (the readiness check).</summary>
    public Task PingAsync(CancellationToken cancellationToken) =>
        ReadAsync(async (session, ct) => await session.Command("SELECT 1").ExecuteScalarAsync(ct).ConfigureAwait(false), cancellationToken);

    /// <summary>
    /// The message store's size in bytes from the database's own bookkeeping, not a scan: the body table with its
    /// indexes and TOAST on PostgreSQL, the whole database file on SQLite (bodies are most of it).
    /// </summary>
    public Task<long> GetBodyStoreBytesAsync(CancellationToken cancellationToken) =>
        ReadAsync(async (session, ct) =>
        {
            var sql = Dialect == SqlDialect.Postgres
                ? "SELECT pg_total_relation_size('elemta_message_body')"
                : "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()";
            return Convert.ToInt64(await session.Command(sql).ExecuteScalarAsync(ct).ConfigureAwait(false), System.Globalization.CultureInfo.InvariantCulture);
        }, cancellationToken);

    /// <inheritdoc />
    public abstract ValueTask DisposeAsync();
}

/// <summary>A lent connection's commands, valid for one <see cref="StoreDatabase.ReadAsync{T}"/>.</summary>
internal abstract class ReadSession
{
    /// <summary>
    /// A command for <paramref name="sql"/>, parameters cleared. Owned by the session: do not dispose it; dispose its
    /// reader before the next use.
    /// </summary>
    public abstract DbCommand Command(string sql);
}
