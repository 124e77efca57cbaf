using Elemta.Storage.Postgres;
using Elemta.Storage.Sqlite;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Elemta.Storage;

/// <summary>Registers Elemta's storage services.</summary>
public static class StorageServiceCollectionExtensions
{
    /// <summary>
    /// Registers the embedded SQLite database at <paramref name="connectionString"/> as the message store and queue
    /// store. The caller runs <see cref="SqliteDatabase.MigrateAsync"/> before the silo starts.
    /// </summary>
    public static IServiceCollection AddElemtaSqliteStorage(this IServiceCollection services, string connectionString)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(new SqliteDatabase(connectionString));
        services.AddSingleton<IQueueStore, SqliteQueueStore>();
        services.AddSingleton<IQueueOperations, SqliteQueueOperations>();
        services.AddSingleton<IMessageStore, SqliteMessageStore>();
        services.AddSingleton<IAuditLog, SqliteAuditLog>();
        return services;
    }

    /// <summary>
    /// Registers the cluster's shared PostgreSQL database as the message store and queue store. The caller runs
    /// <see cref="PostgresDatabase.MigrateAsync"/> before the silo starts (or <c>elemta db migrate</c> did).
    /// </summary>
    public static IServiceCollection AddElemtaPostgresStorage(this IServiceCollection services, string connectionString, PostgresStorageOptions options)
    {
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(new PostgresDatabase(connectionString, options));
        services.AddSingleton<IQueueStore, PostgresQueueStore>();
        services.AddSingleton<IQueueOperations, PostgresQueueOperations>();
        services.AddSingleton<IMessageStore, PostgresMessageStore>();
        return services;
    }
}
