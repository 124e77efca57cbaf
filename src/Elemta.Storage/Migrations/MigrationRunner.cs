using System.Data.Common;
using System.Globalization;
using System.Reflection;
using System.Text.RegularExpressions;
using Npgsql;

namespace Elemta.Storage.Migrations;

/// <summary>A numbered schema script shipped inside this assembly.</summary>
/// <param name="Version">The number the file name starts with; scripts run in ascending order.</param>
/// <param name="Name">The file name without extension, e.g. <c>0003_elemta_queue</c>.</param>
/// <param name="Sql">The script.</param>
public sealed record Migration(int Version, string Name, string Sql);

/// <summary>A migration recorded in <c>elemta_schema_migrations</c>.</summary>
/// <param name="Version">Its version number.</param>
/// <param name="Name">Its name, e.g. <c>0003_elemta_queue</c>.</param>
/// <param name="AppliedAt">When it was applied; null when the record's time does not parse.</param>
public sealed record AppliedMigration(int Version, string Name, DateTimeOffset? AppliedAt);

/// <summary>The schema of a database against the migrations this build ships (<c>elemta db status</c>).</summary>
/// <param name="Applied">Every recorded migration, oldest version first (it may name versions newer than this build's).</param>
/// <param name="Pending">The shipped migrations not applied yet, in the order they would apply.</param>
public sealed record SchemaStatus(IReadOnlyList<AppliedMigration> Applied, IReadOnlyList<Migration> Pending)
{
    /// <summary>Whether every shipped migration is applied.</summary>
    public bool UpToDate => Pending.Count == 0;
}

/// <summary>
/// Forward-only, versioned schema migrations. Each applied script is recorded in <c>elemta_schema_migrations</c>;
/// running again applies only what is missing, so it is safe at every start.
/// </summary>
public static partial class MigrationRunner
{
    /// <summary>The migrations shipped for a provider (<c>Sqlite</c> or <c>Postgres</c>), in the order they apply.</summary>
    public static IReadOnlyList<Migration> Load(string provider)
    {
        var assembly = typeof(MigrationRunner).Assembly;
        var prefix = $"{assembly.GetName().Name}.Migrations.{provider}.";
        var migrations = new List<Migration>();
        foreach (var resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(prefix, StringComparison.Ordinal) || !resource.EndsWith(".sql", StringComparison.Ordinal))
            {
                continue;
            }

            var name = resource[prefix.Length..^".sql".Length];
            var match = VersionPrefix().Match(name);
            if (!match.Success)
            {
                throw new InvalidOperationException($"Migration '{resource}' does not start with a version number.");
            }

            migrations.Add(new Migration(int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture), name, ReadResource(assembly, resource)));
        }

        migrations.Sort((a, b) => a.Version.CompareTo(b.Version));
        for (var i = 1; i < migrations.Count; i++)
        {
            if (migrations[i].Version == migrations[i - 1].Version)
            {
                throw new InvalidOperationException($"Two migrations share version {migrations[i].Version}: {migrations[i - 1].Name}, {migrations[i].Name}.");
            }
        }

        return migrations;
    }

    /// <summary>
    /// Applies every migration not yet recorded, each in its own transaction together with its record.
    /// Returns the migrations applied by this call (empty when the schema was current).
    /// </summary>
    public static async Task<IReadOnlyList<Migration>> ApplyAsync(DbConnection connection, IReadOnlyList<Migration> migrations, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (connection is NpgsqlConnection)
        {
            // Several silos may start at once against one PostgreSQL database. Concurrent CREATE TABLE IF NOT EXISTS
            // can still collide there, and a script must not run twice: one migrator at a time, cluster-wide.
            await ExecuteAsync(connection, null, $"SELECT pg_advisory_lock({PostgresLockKey})", cancellationToken).ConfigureAwait(false);
            try
            {
                return await ApplyLockedAsync(connection, migrations, cancellationToken).ConfigureAwait(false);
            }
            finally
            {
                await ExecuteAsync(connection, null, $"SELECT pg_advisory_unlock({PostgresLockKey})", CancellationToken.None).ConfigureAwait(false);
            }
        }

        return await ApplyLockedAsync(connection, migrations, cancellationToken).ConfigureAwait(false);
    }

    // Any constant shared by every Elemta process: "elemta" in ASCII.
    private const long PostgresLockKey = 0x656C656D7461;

    private static async Task<IReadOnlyList<Migration>> ApplyLockedAsync(DbConnection connection, IReadOnlyList<Migration> migrations, CancellationToken cancellationToken)
    {
        await ExecuteAsync(connection, null, """
            CREATE TABLE IF NOT EXISTS elemta_schema_migrations
            (
                version    INTEGER NOT NULL PRIMARY KEY,
                name       TEXT    NOT NULL,
                applied_at TEXT    NOT NULL
            );
            """, cancellationToken).ConfigureAwait(false);

        var applied = new List<Migration>();
        foreach (var migration in migrations)
        {
            await using var transaction = await connection.BeginTransactionAsync(cancellationToken).ConfigureAwait(false);
            // Checked inside the transaction so that two processes migrating at once apply each script once.
            await using (var check = connection.CreateCommand())
            {
                check.Transaction = transaction;
                check.CommandText = "SELECT COUNT(*) FROM elemta_schema_migrations WHERE version = @version";
                AddParameter(check, "@version", migration.Version);
                var count = Convert.ToInt64(await check.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
                if (count > 0)
                {
                    await transaction.RollbackAsync(cancellationToken).ConfigureAwait(false);
                    continue;
                }
            }

            await ExecuteAsync(connection, transaction, migration.Sql, cancellationToken).ConfigureAwait(false);
            await using (var record = connection.CreateCommand())
            {
                record.Transaction = transaction;
                record.CommandText = "INSERT INTO elemta_schema_migrations (version, name, applied_at) VALUES (@version, @name, @at)";
                AddParameter(record, "@version", migration.Version);
                AddParameter(record, "@name", migration.Name);
                AddParameter(record, "@at", DateTimeOffset.UtcNow.ToString("O", CultureInfo.InvariantCulture));
                await record.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            }

            await transaction.CommitAsync(cancellationToken).ConfigureAwait(false);
            applied.Add(migration);
        }

        return applied;
    }

    /// <summary>
    /// The migrations recorded as applied, by version; empty when the database has no migration table yet. Reads
    /// only: it creates nothing, so it can look at a database before <see cref="ApplyAsync"/> ever ran.
    /// </summary>
    public static async Task<IReadOnlyList<AppliedMigration>> ReadAppliedAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (!await HasMigrationTableAsync(connection, cancellationToken).ConfigureAwait(false))
        {
            return [];
        }

        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT version, name, applied_at FROM elemta_schema_migrations ORDER BY version";
        var applied = new List<AppliedMigration>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            var at = DateTimeOffset.TryParse(reader.GetString(2), CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind, out var parsed) ? parsed : (DateTimeOffset?)null;
            applied.Add(new AppliedMigration(reader.GetInt32(0), reader.GetString(1), at));
        }

        return applied;
    }

    /// <summary>Compares what <paramref name="connection"/>'s database recorded with the <paramref name="shipped"/> migrations.</summary>
    public static async Task<SchemaStatus> GetStatusAsync(DbConnection connection, IReadOnlyList<Migration> shipped, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(shipped);
        var applied = await ReadAppliedAsync(connection, cancellationToken).ConfigureAwait(false);
        var versions = applied.Select(a => a.Version).ToHashSet();
        return new SchemaStatus(applied, [.. shipped.Where(m => !versions.Contains(m.Version))]);
    }

    private static async Task<bool> HasMigrationTableAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.CommandText = connection is NpgsqlConnection
            ? "SELECT 1 WHERE to_regclass('elemta_schema_migrations') IS NOT NULL"
            : "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'elemta_schema_migrations'";
        return await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false) is not null;
    }

    /// <summary>The highest applied version, or 0 for an empty database.</summary>
    public static async Task<int> GetCurrentVersionAsync(DbConnection connection, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(connection);
        if (!await HasMigrationTableAsync(connection, cancellationToken).ConfigureAwait(false))
        {
            return 0;
        }

        await using var command = connection.CreateCommand();
        command.CommandText = "SELECT COALESCE(MAX(version), 0) FROM elemta_schema_migrations";
        return Convert.ToInt32(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
    }

    private static async Task ExecuteAsync(DbConnection connection, DbTransaction? transaction, string sql, CancellationToken cancellationToken)
    {
        await using var command = connection.CreateCommand();
        command.Transaction = transaction;
        command.CommandText = sql;
        await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    private static void AddParameter(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    private static string ReadResource(Assembly assembly, string name)
    {
        using var stream = assembly.GetManifestResourceStream(name)
            ?? throw new InvalidOperationException($"Embedded migration '{name}' is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    [GeneratedRegex(@"^(\d+)_")]
    private static partial Regex VersionPrefix();
}
