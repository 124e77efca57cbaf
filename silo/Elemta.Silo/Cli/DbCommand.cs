using System.CommandLine;
using System.Data.Common;
using Elemta.Storage;
using Elemta.Storage.Migrations;
using Elemta.Storage.Relational;
using Microsoft.Extensions.Configuration;
using Spectre.Console;

namespace Elemta.Silo.Cli;

/// <summary><c>elemta db migrate|status</c>: the configured database's schema.</summary>
internal static class DbCommand
{
    public static Command Create(CliContext context)
    {
        var db = new Command("db", "The configured database (Elemta:Storage).");

        var migrate = new Command("migrate", "Apply pending schema migrations to the configured database and exit; a current schema is left as it is.");
        var migrateData = ServerCommand.DataOption();
        migrate.Options.Add(migrateData);
        migrate.SetAction((parse, ct) => SiloHost.RunAsync(new CommandLine(false, null, parse.GetValue(migrateData), context.ConfigurationArgs, MigrateOnly: true)));
        db.Subcommands.Add(migrate);

        var status = new Command("status", "The provider, whether the database answers, and the applied and pending schema migrations. Exit 0 when up to date, 7 when migrations are pending, 4 when the database cannot be reached.");
        var statusData = ServerCommand.DataOption();
        status.Options.Add(statusData);
        status.SetAction((parse, ct) => StatusAsync(context, parse.GetValue(statusData), parse.GetValue(context.Json), ct));
        db.Subcommands.Add(status);
        return db;
    }

    private static async Task<int> StatusAsync(CliContext context, string? dataDirectory, bool json, CancellationToken cancellationToken)
    {
        IConfiguration configuration = context.Configuration;
        if (dataDirectory is not null)
        {
            configuration = new ConfigurationBuilder()
                .AddConfiguration(configuration)
                .AddInMemoryCollection(new Dictionary<string, string?> { ["Elemta:DataDirectory"] = dataDirectory })
                .Build();
        }

        // As the silo does at start: a misspelt key would otherwise point status at another database than the silo's.
        if (ConfigurationCheck.FindProblem(configuration) is { } problem)
        {
            throw new UsageException($"configuration error: {ElemtaCli.OneLine(problem)}");
        }

        StoreDatabase database;
        try
        {
            database = StorageServiceCollectionExtensions.CreateDatabase(configuration);
        }
        catch (Exception ex) when (ex is InvalidOperationException or ArgumentException or FormatException)
        {
            throw new UsageException($"configuration error: {ElemtaCli.OneLine(ex.Message)}");
        }

        await using (database.ConfigureAwait(false))
        {
            SchemaStatus? schema = null;
            string? failure = null;
            try
            {
                schema = await database.GetSchemaStatusAsync(cancellationToken).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is DbException or IOException or UnauthorizedAccessException or TimeoutException)
            {
                failure = ElemtaCli.OneLine(ex.Message);
            }

            var latest = database.LatestVersion;
            var current = schema is null ? (int?)null : schema.Applied.Count == 0 ? 0 : schema.Applied[^1].Version;
            if (json)
            {
                await context.WriteJsonAsync(new
                {
                    provider = database.Dialect.Name,
                    location = database.Location,
                    reachable = schema is not null,
                    error = failure,
                    currentVersion = current,
                    latestVersion = latest,
                    upToDate = schema?.UpToDate,
                    applied = schema?.Applied.Select(a => new { version = a.Version, name = a.Name, appliedAt = a.AppliedAt }),
                    pending = schema?.Pending.Select(m => new { version = m.Version, name = m.Name }),
                }).ConfigureAwait(false);
            }
            else
            {
                await context.Out.WriteLineAsync($"provider: {database.Dialect.Name}").ConfigureAwait(false);
                await context.Out.WriteLineAsync($"database: {database.Location}").ConfigureAwait(false);
                await context.Out.WriteLineAsync($"reachable: {(schema is null ? "no" : "yes")}").ConfigureAwait(false);
                if (schema is not null)
                {
                    await context.Out.WriteLineAsync($"schema: version {current} of {latest}, {(schema.UpToDate ? "up to date" : $"{schema.Pending.Count} migration(s) pending")}").ConfigureAwait(false);
                    await context.Out.WriteLineAsync().ConfigureAwait(false);
                    var table = CliContext.NewTable("VERSION", "NAME", "STATE", "APPLIED");
                    foreach (var applied in schema.Applied)
                    {
                        table.AddRow(applied.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), CliContext.Escape(applied.Name), "applied", context.Relative(applied.AppliedAt));
                    }

                    foreach (var pending in schema.Pending)
                    {
                        table.AddRow(pending.Version.ToString(System.Globalization.CultureInfo.InvariantCulture), CliContext.Escape(pending.Name), "pending", "-");
                    }

                    context.Console.Write(table);
                }
            }

            if (failure is not null)
            {
                await context.Error.WriteLineAsync($"elemta: the {database.Dialect.Name} database at {database.Location} cannot be reached: {failure}").ConfigureAwait(false);
                return ExitCodes.Unreachable;
            }

            if (!schema!.UpToDate)
            {
                await context.Error.WriteLineAsync($"elemta: {schema.Pending.Count} schema migration(s) pending; run 'elemta db migrate'").ConfigureAwait(false);
                return ExitCodes.Pending;
            }

            return ExitCodes.Ok;
        }
    }
}
