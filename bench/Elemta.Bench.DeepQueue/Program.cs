using System.Diagnostics;
using System.Globalization;
using Elemta.Storage;
using Elemta.Storage.Sqlite;
using Microsoft.Data.Sqlite;

// Usage: dotnet run -c Release --project bench/Elemta.Bench.DeepQueue [deferred-entries] [samples]
var deferred = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
var samples = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 2_000;
var folder = Path.Combine(Path.GetTempPath(), "elemta-bench-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(folder);
try
{
    await using var database = new SqliteDatabase(SqliteDatabase.ConnectionStringFor(Path.Combine(folder, "elemta.db")));
    await database.MigrateAsync(CancellationToken.None);
    var queue = new SqliteQueueStore(database);

    var empty = await MeasureAsync(queue, "empty", samples);
    await FillAsync(database, deferred);
    var deep = await MeasureAsync(queue, "deep", samples);
    Console.WriteLine($"deep/empty enqueue throughput ratio: {deep.PerSecond / empty.PerSecond:F2}");
    return 0;
}
finally
{
    Directory.Delete(folder, recursive: true);
}

// 20 concurrent writers, as 20 SMTP sessions would be; each enqueue is durable when it returns.
static async Task<(double PerSecond, double P50, double P99)> MeasureAsync(SqliteQueueStore queue, string label, int samples)
{
    var latencies = new double[samples];
    var next = -1;
    var total = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < samples)
        {
            var started = Stopwatch.GetTimestamp();
            await queue.UpsertAsync(new QueueEntry("example.net", $"{label}-{i}", 200, DateTimeOffset.UtcNow), CancellationToken.None);
            latencies[i] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        }
    }));
    total.Stop();

    var due = Stopwatch.StartNew();
    var found = await queue.GetDueAsync("example.net", DateTimeOffset.UtcNow, 100, CancellationToken.None);
    due.Stop();
    Array.Sort(latencies);
    var perSecond = samples / total.Elapsed.TotalSeconds;
    var p50 = latencies[samples / 2];
    var p99 = latencies[(int)(samples * 0.99)];
    Console.WriteLine($"{label,-5}: {samples} enqueues in {total.Elapsed.TotalSeconds:F2} s = {perSecond:F0}/s, p50 {p50:F2} ms, p99 {p99:F2} ms; due scan returned {found.Count} in {due.Elapsed.TotalMilliseconds:F2} ms");
    return (perSecond, p50, p99);
}

// Deferred entries, due in an hour, written in one transaction (setup, not measured).
static async Task FillAsync(SqliteDatabase database, int count)
{
    var fill = Stopwatch.StartNew();
    await using var connection = await database.OpenAsync(CancellationToken.None);
    await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync();
    await using var command = connection.CreateCommand();
    command.Transaction = transaction;
    command.CommandText = "INSERT INTO elemta_queue (domain, message_id, priority, due_at) VALUES ('example.net', @id, 200, @due)";
    var id = command.Parameters.Add("@id", SqliteType.Text);
    command.Parameters.AddWithValue("@due", DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds());
    for (var i = 0; i < count; i++)
    {
        id.Value = "deferred-" + i.ToString("D8", CultureInfo.InvariantCulture);
        await command.ExecuteNonQueryAsync();
    }

    await transaction.CommitAsync();
    Console.WriteLine($"filled {count} deferred entries in {fill.Elapsed.TotalSeconds:F1} s");
}
