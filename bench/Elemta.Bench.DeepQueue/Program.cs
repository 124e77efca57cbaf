using System.Diagnostics;
using System.Globalization;
using Elemta.Contracts;
using Elemta.Storage;
using Elemta.Storage.Sqlite;
using Microsoft.Data.Sqlite;

// Usage: dotnet run -c Release --project bench/Elemta.Bench.DeepQueue [deferred-messages] [samples]
// Measures what an SMTP acceptance writes (IMessageStore.AcceptAsync: envelope, 1 KiB content, listing row, queue
// entry, counters — one durable group commit per batch) into an empty queue and then into a queue that already holds
// `deferred-messages` deferred messages (each with its content, listing row and queue entry) in the same domain.
var deferred = args.Length > 0 ? int.Parse(args[0], CultureInfo.InvariantCulture) : 1_000_000;
var samples = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20_000;
var folder = Path.Combine(Path.GetTempPath(), "elemta-bench-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(folder);
var content = new byte[1024];
Array.Fill(content, (byte)'x');
try
{
    await using var database = new SqliteDatabase(SqliteDatabase.ConnectionStringFor(Path.Combine(folder, "elemta.db")));
    await database.MigrateAsync(CancellationToken.None);
    var messages = new MessageStore(database);
    var queue = new QueueStore(database);

    // Warm-up (JIT, page cache) so the first measured run is not penalised; then the queue is emptied again.
    await MeasureAsync(messages, queue, "warm", samples, content);
    await using (var connection = await database.OpenAsync(CancellationToken.None))
    await using (var clear = connection.CreateCommand())
    {
        clear.CommandText = "DELETE FROM elemta_queue; DELETE FROM elemta_message; DELETE FROM elemta_message_body;";
        await clear.ExecuteNonQueryAsync();
    }

    var empty = await MeasureAsync(messages, queue, "empty", samples, content);
    await FillAsync(database, deferred, content);
    var deep = await MeasureAsync(messages, queue, "deep", samples, content);
    Console.WriteLine($"deep/empty acceptance throughput ratio: {deep.PerSecond / empty.PerSecond:F2} (target >= 0.90)");
    return 0;
}
finally
{
    Directory.Delete(folder, recursive: true);
}

// 20 concurrent writers, as 20 SMTP sessions would be; each acceptance is durable when it returns.
static async Task<(double PerSecond, double P50, double P99)> MeasureAsync(MessageStore messages, QueueStore queue, string label, int samples, byte[] content)
{
    var latencies = new double[samples];
    var next = -1;
    var total = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, 20).Select(async _ =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < samples)
        {
            var envelope = new MessageEnvelope($"{label}-{i:D8}", "bench@example.org", ["rcpt@example.net"], DateTimeOffset.UtcNow,
                "127.0.0.1", "bench", content.Length, MessagePriority.Normal);
            var started = Stopwatch.GetTimestamp();
            await messages.AcceptAsync(envelope, content, CancellationToken.None);
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
    Console.WriteLine($"{label,-5}: {samples} acceptances in {total.Elapsed.TotalSeconds:F2} s = {perSecond:F0}/s, p50 {p50:F2} ms, p99 {p99:F2} ms; due scan returned {found.Count} in {due.Elapsed.TotalMilliseconds:F2} ms");
    return (perSecond, p50, p99);
}

// Deferred messages, due in an hour: content, listing row (state Deferred) and queue entry, written in one
// transaction (setup, not measured). The counters are kept by the same triggers as in production.
static async Task FillAsync(SqliteDatabase database, int count, byte[] content)
{
    var fill = Stopwatch.StartNew();
    await using var connection = await database.OpenAsync(CancellationToken.None);
    await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync();
    await using var command = connection.CreateCommand();
    command.Transaction = transaction;
    command.CommandText = """
        INSERT INTO elemta_message_body (message_id, created_at, size, content) VALUES (@id, @now, 1024, @content);
        INSERT INTO elemta_message (message_id, state, priority, sender, recipients, size, received_at, updated_at)
            VALUES (@id, 1, 200, 'bench@example.org', 1, 1024, @now, @now);
        INSERT INTO elemta_queue (domain, message_id, priority, due_at) VALUES ('example.net', @id, 200, @due);
        """;
    var id = command.Parameters.Add("@id", SqliteType.Text);
    command.Parameters.AddWithValue("@now", DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    command.Parameters.AddWithValue("@due", DateTimeOffset.UtcNow.AddHours(1).ToUnixTimeMilliseconds());
    command.Parameters.AddWithValue("@content", content);
    for (var i = 0; i < count; i++)
    {
        id.Value = "deferred-" + i.ToString("D8", CultureInfo.InvariantCulture);
        await command.ExecuteNonQueryAsync();
    }

    await transaction.CommitAsync();
    Console.WriteLine($"filled {count} deferred messages in {fill.Elapsed.TotalSeconds:F1} s");
}
