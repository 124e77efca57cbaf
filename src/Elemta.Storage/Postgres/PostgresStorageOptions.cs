namespace Elemta.Storage.Postgres;

/// <summary>Connection pooling, timeouts and retries for the PostgreSQL provider (<c>Elemta:Storage:Postgres</c>).</summary>
public sealed class PostgresStorageOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Storage:Postgres";

    /// <summary>Connections Elemta's own pool keeps open at most, per silo (acceptance, queue, operator actions).</summary>
    public int MaxPoolSize { get; set; } = 20;

    /// <summary>Connections Orleans' ADO.NET providers (membership, grain state, reminders) keep at most, per silo.</summary>
    public int OrleansMaxPoolSize { get; set; } = 10;

    /// <summary>
    /// Commit loops of the group-commit writer, each on its own connection: while one group waits for its commit the
    /// next goes out on another. More loops mean smaller groups (more commits) but less waiting behind a slow one.
    /// </summary>
    public int WriterConnections { get; set; } = 2;

    /// <summary>Longest one statement may run before it is cancelled.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Retries of a unit of work after a transient error (lost connection, failover, serialisation failure).</summary>
    public int TransientRetries { get; set; } = 3;

    /// <summary>Pause before the first retry; it doubles for each further one.</summary>
    public TimeSpan RetryDelay { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Checks the values; returns the first problem, or null.</summary>
    public string? Validate() =>
        MaxPoolSize is < 1 or > 1000 ? $"{SectionName}:MaxPoolSize must be between 1 and 1000."
        : OrleansMaxPoolSize is < 1 or > 1000 ? $"{SectionName}:OrleansMaxPoolSize must be between 1 and 1000."
        : WriterConnections < 1 || WriterConnections > MaxPoolSize ? $"{SectionName}:WriterConnections must be between 1 and MaxPoolSize ({MaxPoolSize})."
        : CommandTimeout <= TimeSpan.Zero || CommandTimeout > TimeSpan.FromHours(1) ? $"{SectionName}:CommandTimeout must be positive and at most 01:00:00."
        : TransientRetries is < 0 or > 20 ? $"{SectionName}:TransientRetries must be between 0 and 20."
        : RetryDelay < TimeSpan.Zero || RetryDelay > TimeSpan.FromMinutes(1) ? $"{SectionName}:RetryDelay must be between 00:00:00 and 00:01:00."
        : null;
}
