using Elemta.Storage.Postgres;
using Elemta.Storage.Sqlite;
using Elemta.Testing;
using Npgsql;

namespace Elemta.Storage.Tests;

/// <summary>
/// One freshly migrated database behind Elemta's storage interfaces, so the same contract tests run against every
/// provider: SQLite (a temporary file) and PostgreSQL (a new database on the test server).
/// </summary>
public interface IStoreFixture : IAsyncDisposable
{
    IMessageStore Messages { get; }

    IQueueStore Queue { get; }

    IQueueOperations Operations { get; }

    IAuditLog Audit { get; }

    /// <summary>A single integer from <paramref name="sql"/>, read over a connection that shares nothing with the stores.</summary>
    long Scalar(string sql);

    /// <summary>Closes the stores' handle and opens a new one on the same database, as after a restart (migrations run again).</summary>
    Task<IStoreFixture> ReopenAsync();
}

internal sealed class SqliteStoreFixture : IStoreFixture
{
    private readonly TempDatabase _temp;
    private readonly SqliteDatabase _database;

    private SqliteStoreFixture(TempDatabase temp, SqliteDatabase database)
    {
        _temp = temp;
        _database = database;
        Messages = new MessageStore(database);
        Queue = new QueueStore(database);
        Operations = new QueueOperations(database);
        Audit = new AuditLog(database);
    }

    public IMessageStore Messages { get; }

    public IQueueStore Queue { get; }

    public IQueueOperations Operations { get; }

    public IAuditLog Audit { get; }

    public static async Task<IStoreFixture> CreateAsync()
    {
        var temp = await TempDatabase.CreateAsync();
        return new SqliteStoreFixture(temp, temp.Database);
    }

    public long Scalar(string sql) => _temp.Scalar(sql);

    public async Task<IStoreFixture> ReopenAsync()
    {
        await _database.DisposeAsync();
        var reopened = _temp.Open();
        await reopened.MigrateAsync(CancellationToken.None);
        return new SqliteStoreFixture(_temp, reopened);
    }

    public ValueTask DisposeAsync() => _temp.DisposeAsync();
}

internal sealed class PostgresStoreFixture : IStoreFixture
{
    private readonly string _connectionString;
    private readonly List<PostgresDatabase> _handles;
    private readonly PostgresDatabase _database;

    private PostgresStoreFixture(string connectionString, List<PostgresDatabase> handles)
    {
        _connectionString = connectionString;
        _handles = handles;
        _database = new PostgresDatabase(connectionString);
        handles.Add(_database);
        Messages = new MessageStore(_database);
        Queue = new QueueStore(_database);
        Operations = new QueueOperations(_database);
        Audit = new AuditLog(_database);
    }

    public IMessageStore Messages { get; }

    public IQueueStore Queue { get; }

    public IQueueOperations Operations { get; }

    public IAuditLog Audit { get; }

    public PostgresDatabase Database => _database;

    public string ConnectionString => _connectionString;

    public static async Task<PostgresStoreFixture> CreateAsync(bool migrate = true)
    {
        var server = await PostgresServer.GetAsync();
        var fixture = new PostgresStoreFixture(await server.CreateDatabaseAsync("store"), []);
        if (migrate)
        {
            await fixture._database.MigrateAsync(CancellationToken.None);
        }

        return fixture;
    }

    public long Scalar(string sql)
    {
        using var connection = OpenIndependentConnection();
        using var command = new NpgsqlCommand(sql, connection);
        return Convert.ToInt64(command.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>A connection outside every pool: what it sees is what was committed.</summary>
    public NpgsqlConnection OpenIndependentConnection()
    {
        var connection = new NpgsqlConnection(new NpgsqlConnectionStringBuilder(_connectionString) { Pooling = false }.ConnectionString);
        connection.Open();
        return connection;
    }

    public async Task<IStoreFixture> ReopenAsync()
    {
        await _database.DisposeAsync();
        var reopened = new PostgresStoreFixture(_connectionString, _handles);
        await reopened._database.MigrateAsync(CancellationToken.None);
        return reopened;
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var handle in _handles)
        {
            await handle.DisposeAsync();
        }
    }
}
