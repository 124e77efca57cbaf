namespace Elemta.Storage;

/// <summary>Which database Elemta keeps its state in (<c>Elemta:Storage</c>).</summary>
public sealed class StorageOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Storage";

    /// <summary>
    /// <c>Sqlite</c> (default: an embedded database file in the data directory, nothing to install).
    /// <c>PostgreSQL</c> is reserved for the multi-silo cluster and not available in this version.
    /// </summary>
    public string Provider { get; set; } = "Sqlite";

    /// <summary>
    /// ADO.NET connection string. Empty means the default for the provider: for SQLite,
    /// <c>Data Source={DataDirectory}/elemta.db</c>.
    /// </summary>
    public string? ConnectionString { get; set; }
}
