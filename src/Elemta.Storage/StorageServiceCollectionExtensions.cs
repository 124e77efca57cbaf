using Elemta.Storage.Postgres;
using Elemta.Storage.Relational;
using Elemta.Storage.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;

namespace Elemta.Storage;

/// <summary>Registers Elemta's storage services.</summary>
public static class StorageServiceCollectionExtensions
{
    /// <summary>
    /// Chooses the provider from <c>Elemta:Storage</c> (<see cref="StorageOptions"/>, and
    /// <see cref="PostgresStorageOptions"/> for PostgreSQL), validates it and registers the database and the stores.
    /// The database is returned too, because the host needs it before the container exists: Orleans' ADO.NET
    /// providers take its invariant and connection string, and migrations run before the silo starts. The caller
    /// disposes it when the host has stopped.
    /// </summary>
    /// <exception cref="InvalidOperationException">The configuration names no usable provider; the message is one line naming the key.</exception>
    public static StoreDatabase AddElemtaStorage(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var database = CreateDatabase(configuration);
        services.AddOptions<StorageOptions>().Bind(configuration.GetSection(StorageOptions.SectionName))
            .Validate(o => o.MinFreeSpace >= 0, "Elemta:Storage:MinFreeSpace must be 0 (off) or a number of octets.")
            .ValidateOnStart();
        services.AddElemtaStorage(database);
        return database;
    }

    /// <summary>Registers <paramref name="database"/> and the stores written against it.</summary>
    public static IServiceCollection AddElemtaStorage(this IServiceCollection services, StoreDatabase database)
    {
        ArgumentNullException.ThrowIfNull(database);
        services.TryAddSingleton(TimeProvider.System);
        services.AddSingleton(database);
        services.AddSingleton(database.GetType(), database);
        services.AddSingleton<IQueueStore, QueueStore>();
        services.AddSingleton<IQueueOperations, QueueOperations>();
        services.AddSingleton<IMessageStore, MessageStore>();
        services.AddSingleton<IAuditLog, AuditLog>();
        services.TryAddSingleton<QueueSpace>();
        return services;
    }

    /// <summary>
    /// The database <c>Elemta:Storage</c> describes: the embedded SQLite file <c>{Elemta:DataDirectory}/elemta.db</c>
    /// unless a connection string is given, or the cluster's PostgreSQL database.
    /// </summary>
    public static StoreDatabase CreateDatabase(IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        var storage = configuration.GetSection(StorageOptions.SectionName).Get<StorageOptions>() ?? new StorageOptions();
        switch (storage.Provider.ToUpperInvariant())
        {
            case "SQLITE":
                var connectionString = storage.ConnectionString;
                if (string.IsNullOrWhiteSpace(connectionString))
                {
                    var data = configuration["Elemta:DataDirectory"];
                    data = string.IsNullOrWhiteSpace(data) ? "./data" : data;
                    connectionString = SqliteDatabase.ConnectionStringFor(Path.Combine(Path.GetFullPath(data), "elemta.db"));
                }

                return new SqliteDatabase(connectionString);

            case "POSTGRESQL" or "POSTGRES":
                if (string.IsNullOrWhiteSpace(storage.ConnectionString))
                {
                    throw new InvalidOperationException("Elemta:Storage:ConnectionString is required with Elemta:Storage:Provider=PostgreSQL (e.g. Host=db;Database=elemta;Username=elemta;Password=…).");
                }

                var options = configuration.GetSection(PostgresStorageOptions.SectionName).Get<PostgresStorageOptions>() ?? new PostgresStorageOptions();
                if (options.Validate() is { } problem)
                {
                    throw new InvalidOperationException(problem);
                }

                return new PostgresDatabase(storage.ConnectionString, options, storage.MigrateAtStart);

            default:
                throw new InvalidOperationException($"Elemta:Storage:Provider '{storage.Provider}' is not supported; use 'Sqlite' or 'PostgreSQL'.");
        }
    }
}
