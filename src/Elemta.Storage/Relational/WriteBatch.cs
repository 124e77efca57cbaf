using System.Data.Common;

namespace Elemta.Storage.Relational;

/// <summary>
/// One unit of work for the group-commit writer: statements that commit together or not at all. Batches queued at the
/// same moment share one transaction (and one fsync); a batch that fails is replayed alone so it cannot fail its
/// neighbours. Built on the caller's thread, executed on the writer's.
/// </summary>
public sealed class WriteBatch
{
    private readonly List<BatchStatement> _statements = new(4);

    internal IReadOnlyList<BatchStatement> Statements => _statements;

    internal TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>Whether some statement returns rows (the provider then reads result sets).</summary>
    internal bool HasQueries { get; private set; }

    /// <summary>Adds a statement; bind its parameters on the returned handle.</summary>
    internal BatchStatement Add(string sql)
    {
        var statement = new BatchStatement(sql, StatementKind.NonQuery, null);
        _statements.Add(statement);
        return statement;
    }

    /// <summary>Adds a query whose first column is read into <see cref="BatchStatement.Strings"/> within the transaction.</summary>
    internal BatchStatement AddStringQuery(string sql)
    {
        var statement = new BatchStatement(sql, StatementKind.StringQuery, null);
        _statements.Add(statement);
        HasQueries = true;
        return statement;
    }

    /// <summary>
    /// Adds work a statement cannot express (SQLite's incremental BLOB I/O), run by the writer inside the transaction.
    /// Only the SQLite writer runs these.
    /// </summary>
    internal void AddCustom(Action<WriteContext> apply) =>
        _statements.Add(new BatchStatement(string.Empty, StatementKind.Custom, apply));

    /// <summary>Clears what an earlier try of this batch read, before it is tried again.</summary>
    internal void ResetResults()
    {
        foreach (var statement in _statements)
        {
            statement.RowsAffected = 0;
            statement.Strings?.Clear();
        }
    }
}

/// <summary>What a batch statement does with its result.</summary>
internal enum StatementKind
{
    /// <summary>Counts the rows it changed.</summary>
    NonQuery,

    /// <summary>Reads its rows' first column as strings.</summary>
    StringQuery,

    /// <summary>Runs provider-specific code (<see cref="WriteBatch.AddCustom"/>).</summary>
    Custom,
}

/// <summary>One statement of a <see cref="WriteBatch"/>, its parameters and, after the commit, its result.</summary>
internal sealed class BatchStatement(string sql, StatementKind kind, Action<WriteContext>? custom)
{
    private (string Name, object? Value)[] _parameters = [];
    private int _count;

    public string Sql { get; } = sql;

    public StatementKind Kind { get; } = kind;

    public Action<WriteContext>? Custom { get; } = custom;

    /// <summary>Rows the statement changed (after the commit).</summary>
    public long RowsAffected { get; set; }

    /// <summary>The first column of the rows a <see cref="StatementKind.StringQuery"/> read (after the commit).</summary>
    public List<string>? Strings { get; private set; }

    public ReadOnlySpan<(string Name, object? Value)> Parameters => _parameters.AsSpan(0, _count);

    /// <summary>Binds <paramref name="name"/> (with its <c>@</c>); null is SQL NULL.</summary>
    public BatchStatement Bind(string name, object? value)
    {
        if (_count == _parameters.Length)
        {
            Array.Resize(ref _parameters, Math.Max(4, _count * 2));
        }

        _parameters[_count++] = (name, value);
        return this;
    }

    public void AddString(string value) => (Strings ??= []).Add(value);
}

/// <summary>What custom work sees inside the writer's transaction.</summary>
internal abstract class WriteContext
{
    /// <summary>The writer's connection.</summary>
    public abstract DbConnection Connection { get; }

    /// <summary>The open transaction.</summary>
    public abstract DbTransaction Transaction { get; }

    /// <summary>A command for <paramref name="sql"/> in the transaction, parameters cleared (prepared once where the provider can).</summary>
    public abstract DbCommand Command(string sql);
}
