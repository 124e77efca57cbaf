namespace Elemta.Storage.Relational;

/// <summary>
/// The SQL dialect of a provider: where SQLite and PostgreSQL really differ, the difference is named here, and every
/// store is one class that asks its dialect rather than one class per provider (two copies drift).
/// </summary>
public sealed class SqlDialect
{
    /// <summary>The embedded default: one file, one writer, no <c>LATERAL</c>, incremental BLOB I/O.</summary>
    public static SqlDialect Sqlite { get; } = new("SQLite", "Sqlite", least: "MIN", lateralJoins: false, incrementalBlobIo: true);

    /// <summary>The cluster's shared database: <c>LATERAL</c> joins, slotted counters, <c>bytea</c> content.</summary>
    public static SqlDialect Postgres { get; } = new("PostgreSQL", "Postgres", least: "LEAST", lateralJoins: true, incrementalBlobIo: false);

    private SqlDialect(string name, string migrations, string least, bool lateralJoins, bool incrementalBlobIo)
    {
        Name = name;
        MigrationsFolder = migrations;
        Least = least;
        LateralJoins = lateralJoins;
        IncrementalBlobIo = incrementalBlobIo;
    }

    /// <summary>The provider's name as operators write it (<c>Elemta:Storage:Provider</c>).</summary>
    public string Name { get; }

    /// <summary>The folder of <c>Migrations/</c> holding this dialect's schema scripts.</summary>
    internal string MigrationsFolder { get; }

    /// <summary>The two-argument minimum: SQLite's scalar <c>MIN</c>, PostgreSQL's <c>LEAST</c>.</summary>
    internal string Least { get; }

    /// <summary>
    /// Whether a correlated subquery can be joined (<c>CROSS JOIN LATERAL</c>): PostgreSQL reads a domain's due
    /// entries, one priority class at a time, in one statement; SQLite walks the classes with one statement each.
    /// </summary>
    internal bool LateralJoins { get; }

    /// <summary>
    /// Whether content can be written into a reserved BLOB in place (SQLite's <c>zeroblob</c> and
    /// <c>sqlite3_blob_write</c>), so a slice of a pooled buffer reaches the file without a managed copy. PostgreSQL
    /// takes a <c>bytea</c> parameter.
    /// </summary>
    internal bool IncrementalBlobIo { get; }

    /// <summary>This dialect's text of a statement that differs between the providers.</summary>
    internal string this[DialectSql statement] => ReferenceEquals(this, Sqlite) ? statement.Sqlite : statement.Postgres;

    /// <inheritdoc />
    public override string ToString() => Name;
}

/// <summary>One statement whose text differs between the dialects, both texts side by side.</summary>
/// <param name="Sqlite">The SQLite text.</param>
/// <param name="Postgres">The PostgreSQL text.</param>
internal readonly record struct DialectSql(string Sqlite, string Postgres);
