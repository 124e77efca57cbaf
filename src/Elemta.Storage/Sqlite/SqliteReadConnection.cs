using System.Data.Common;
using Elemta.Storage.Relational;
using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Sqlite;

/// <summary>
/// A read connection lent by <see cref="SqliteDatabase.RentReaderAsync"/> that keeps its prepared statements between
/// uses; disposing it gives it back.
/// </summary>
/// <remarks>
/// Microsoft.Data.Sqlite pools the SQLite handle but prepares a statement again for every new
/// <see cref="SqliteCommand"/>; with a delivery's handful of reads per message, parsing and planning the same SQL was
/// about 4 % of the silo's CPU in a profile of the relay benchmark. Keeping the connection object and its commands
/// together makes each statement a prepare-once, reset-and-rebind affair, as the group-commit writer already does for
/// writes.
/// </remarks>
internal sealed class SqliteReadConnection : ReadSession, IAsyncDisposable
{
    private readonly SqliteDatabase _owner;
    private readonly SqliteCommandCache _commands;

    internal SqliteReadConnection(SqliteDatabase owner, SqliteConnection connection)
    {
        _owner = owner;
        Connection = connection;
        _commands = new SqliteCommandCache(connection);
    }

    /// <summary>The open connection, for the rare statement not worth caching.</summary>
    public SqliteConnection Connection { get; }

    /// <summary>
    /// The cached command for <paramref name="sql"/> with its parameters cleared. Do not dispose it; dispose its
    /// reader before the next use, as with any command.
    /// </summary>
    public override SqliteCommand Command(string sql)
    {
        var command = _commands.Get(sql);
        command.Transaction = Transaction;
        return command;
    }

    /// <summary>The read transaction the commands run in, while a snapshot read holds one.</summary>
    internal SqliteTransaction? Transaction { get; set; }

    /// <summary>Gives the connection back to the database's idle readers (or closes it when there are enough).</summary>
    public ValueTask DisposeAsync() => _owner.ReturnReaderAsync(this);

    /// <summary>Closes the connection and its statements for good.</summary>
    internal async ValueTask CloseAsync()
    {
        await _commands.DisposeCommandsAsync().ConfigureAwait(false);
        await Connection.DisposeAsync().ConfigureAwait(false);
    }
}
