using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Sqlite;

/// <summary>
/// The commands of one connection, kept by SQL text so each statement is prepared once on that connection: SQLite
/// parses and plans a statement per <see cref="SqliteCommand"/>, and a fresh command per query paid that every time.
/// Used by one caller at a time, as its connection is.
/// </summary>
internal sealed class SqliteCommandCache(SqliteConnection connection)
{
    private readonly Dictionary<string, SqliteCommand> _commands = new(StringComparer.Ordinal);

    /// <summary>The cached command for <paramref name="sql"/>, parameters cleared. Owned by the cache: do not dispose it.</summary>
    public SqliteCommand Get(string sql)
    {
        if (!_commands.TryGetValue(sql, out var command))
        {
            command = connection.CreateCommand();
            command.CommandText = sql;
            _commands.Add(sql, command);
        }

        command.Parameters.Clear();
        return command;
    }

    /// <summary>Disposes every cached command (the connection stays the caller's).</summary>
    public async ValueTask DisposeCommandsAsync()
    {
        foreach (var command in _commands.Values)
        {
            await command.DisposeAsync().ConfigureAwait(false);
        }

        _commands.Clear();
    }
}
