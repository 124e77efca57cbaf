namespace Elemta.Storage;

/// <summary>Which database Elemta keeps its state in (<c>Elemta:Storage</c>).</summary>
public sealed class StorageOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Storage";

    /// <summary>
    /// <c>Sqlite</c> (default: an embedded database file in the data directory, nothing to install) or
    /// <c>PostgreSQL</c> (a database shared by the silos of a cluster: membership, grain state, reminders, queue).
    /// </summary>
    public string Provider { get; set; } = "Sqlite";

    /// <summary>
    /// ADO.NET connection string. Empty means the default for the provider: for SQLite,
    /// <c>Data Source={DataDirectory}/elemta.db</c>; PostgreSQL needs one (an Npgsql connection string).
    /// </summary>
    public string? ConnectionString { get; set; }

    /// <summary>
    /// Apply pending schema migrations when the silo starts (PostgreSQL; SQLite always migrates). Turn it off
    /// where schema changes go through <c>elemta db migrate</c> run by an operator or a deployment job.
    /// </summary>
    public bool MigrateAtStart { get; set; } = true;

    /// <summary>
    /// Free space, in octets, kept in reserve on the disk of the embedded database (Postfix's <c>queue_minfree</c>):
    /// below it, the SMTP server refuses new transactions with <c>452 4.3.1</c> (and a transaction whose
    /// <c>SIZE=</c> would not fit above it), so a filling disk turns mail away before it is sent rather than after.
    /// 0 turns the check off. Not used with PostgreSQL, whose disk is the database server's. Default 100 MiB.
    /// </summary>
    public long MinFreeSpace { get; set; } = 100L * 1024 * 1024;
}
