using System.Diagnostics;
using Elemta.Contracts;
using Elemta.Storage.Postgres;
using Elemta.Testing;

namespace Elemta.Storage.Tests;

/// <summary>deploy/postgres/elemta-db-backup.sh against a real server: a restore brings the queue back to the dump.</summary>
public sealed class PostgresBackupTests
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 2, 10, 0, 0, TimeSpan.Zero);

    [Fact]
    public async Task Restore_returns_the_queue_to_the_state_of_the_dump()
    {
        var server = await PostgresServer.GetAsync();
        await using var store = await PostgresStoreFixture.CreateAsync();
        await AcceptAsync(store, "m1", "a@one.test", "b@two.test");
        await AcceptAsync(store, "m2", "c@one.test");
        await store.Queue.RecordOutcomeAsync(new QueueOutcome("m2", "one.test", T0.AddMinutes(5), MessageQueueState.Deferred, T0, Deferred: 1), CancellationToken.None);
        var dumped = await SnapshotAsync(store);
        var file = Path.Combine(Path.GetTempPath(), $"elemta-backup-{Guid.NewGuid():N}.dump");
        var database = store.ConnectionString.Split(';').Single(p => p.StartsWith("Database=", StringComparison.Ordinal))["Database=".Length..];
        try
        {
            await RunScriptAsync(server, "backup", database, file);
            Assert.True(new FileInfo(file).Length > 0);

            // Life goes on after the dump: one message delivered and gone, one new, one held.
            await store.Queue.RecordOutcomeAsync(new QueueOutcome("m1", "one.test", null, MessageQueueState.Deferred, T0, Delivered: 1), CancellationToken.None);
            await AcceptAsync(store, "m3", "d@three.test");
            await store.Operations.ApplyAsync(QueueScope.Message("m2"), QueueAction.Hold, T0, CancellationToken.None);
            Assert.NotEqual(dumped, await SnapshotAsync(store));

            // The silos are stopped for a restore: no pooled connection may hold the tables.
            await store.DisposeAsync();
            Npgsql.NpgsqlConnection.ClearAllPools();
            await RunScriptAsync(server, "restore", database, file);

            var restored = (PostgresStoreFixture)await store.ReopenAsync();
            Assert.Equal(dumped, await SnapshotAsync(restored));
            Assert.Equal(new byte[] { 1, 2, 3 }, await restored.Messages.ReadContentAsync("m1", CancellationToken.None));
            Assert.Null(await restored.Messages.ReadEnvelopeAsync("m3", CancellationToken.None));
            Assert.Equal(["m1", "m2"], (await restored.Queue.GetDueAsync("one.test", T0.AddHours(1), 10, CancellationToken.None)).Select(e => e.MessageId).Order());
            Assert.Empty(await restored.Database.MigrateAsync(CancellationToken.None));
        }
        finally
        {
            File.Delete(file);
        }
    }

    private static Task AcceptAsync(PostgresStoreFixture store, string id, params string[] recipients) =>
        store.Messages.AcceptAsync(new MessageEnvelope(id, "s@origin.test", [.. recipients], T0, "192.0.2.1", "h", 3, MessagePriority.Normal), new byte[] { 1, 2, 3 }, CancellationToken.None);

    /// <summary>The queue as an operator sees it: entries, listed states and the counters.</summary>
    private static async Task<string> SnapshotAsync(PostgresStoreFixture store)
    {
        var stats = await store.Operations.GetStatisticsAsync(T0, 10, CancellationToken.None);
        var entries = new List<string>();
        foreach (var domain in new[] { "one.test", "two.test", "three.test" })
        {
            foreach (var id in new[] { "m1", "m2", "m3" })
            {
                if (await store.Queue.GetPositionAsync(domain, id, CancellationToken.None) is { } position)
                {
                    entries.Add($"{domain}/{id}:{position.Held}:{position.DueAt.ToUnixTimeMilliseconds()}");
                }
            }
        }

        return string.Join(";", entries) + "|" + string.Join(",", stats.Messages.OrderBy(p => p.Key).Select(p => $"{p.Key}={p.Value}"))
            + "|" + string.Join(",", stats.Domains.Select(d => $"{d.Domain}={d.Queued}/{d.Held}"));
    }

    private static async Task RunScriptAsync(PostgresServer server, string action, string database, string file)
    {
        var script = Path.Combine(RepositoryRoot(), "deploy", "postgres", "elemta-db-backup.sh");
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in new[] { script, action, database, file })
        {
            info.ArgumentList.Add(argument);
        }

        foreach (var (key, value) in server.ClientEnvironment)
        {
            info.Environment[key] = value;
        }

        if (server.BinDirectory is { } bin)
        {
            info.Environment["PG_BIN"] = bin;
        }

        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(process.ExitCode == 0, $"{action} failed ({process.ExitCode}): {await stdout}{await stderr}");
    }

    private static string RepositoryRoot()
    {
        for (var directory = new DirectoryInfo(AppContext.BaseDirectory); directory is not null; directory = directory.Parent)
        {
            if (File.Exists(Path.Combine(directory.FullName, "Elemta.sln")))
            {
                return directory.FullName;
            }
        }

        throw new InvalidOperationException("Elemta.sln not found above " + AppContext.BaseDirectory);
    }
}
