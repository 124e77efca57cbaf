using Elemta.Storage.Sqlite;
using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Tests;

public sealed class GroupCommitTests : IAsyncLifetime
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);
    private static readonly DateTimeOffset T0 = new(2026, 3, 2, 10, 0, 0, TimeSpan.Zero);
    private TempDatabase _temp = null!;

    public async Task InitializeAsync() => _temp = await TempDatabase.CreateAsync();

    public async Task DisposeAsync() => await _temp.DisposeAsync();

    [Fact]
    public async Task Concurrent_writes_all_complete_and_are_visible_from_a_fresh_connection()
    {
        const int Count = 500;
        var bodies = new MessageStore(_temp.Database);
        var queue = new QueueStore(_temp.Database);
        using var start = new ManualResetEventSlim();

        var writes = Enumerable.Range(0, Count).SelectMany(i => new[]
        {
            Task.Run(() =>
            {
                start.Wait();
                return MessageContentTests.StoreAsync(bodies, $"m{i}", BitConverter.GetBytes(i));
            }),
            Task.Run(() =>
            {
                start.Wait();
                return queue.UpsertAsync(new QueueEntry($"d{i % 7}.test", $"m{i}", i % 3, T0.AddSeconds(i)), CancellationToken.None);
            }),
        }).ToArray();
        start.Set();
        await Task.WhenAll(writes).WaitAsync(Long);

        Assert.Equal(Count, _temp.Scalar("SELECT COUNT(*) FROM elemta_message_body"));
        Assert.Equal(Count, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue WHERE domain <> 'content.test'"));
        using var connection = _temp.OpenIndependentConnection();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT message_id, content FROM elemta_message_body";
        using var reader = command.ExecuteReader();
        while (reader.Read())
        {
            Assert.Equal("m" + BitConverter.ToInt32((byte[])reader.GetValue(1)), reader.GetString(0));
        }
    }

    [Fact]
    public async Task Every_commit_runs_on_the_writers_own_thread_never_on_a_thread_pool_thread()
    {
        // The commit ends in an fsync: on a pool thread it would hold one of the threads sessions and grains need.
        var threads = new System.Collections.Concurrent.ConcurrentBag<(int Id, bool Pool)>();
        for (var i = 0; i < 20; i++)
        {
            // One at a time, so that each write waits for an empty queue first (the wait that once moved the loop).
            await _temp.Database.ExecuteAsync(_ => threads.Add((Environment.CurrentManagedThreadId, Thread.CurrentThread.IsThreadPoolThread)), CancellationToken.None).WaitAsync(Long);
        }

        Assert.Equal(20, threads.Count);
        Assert.All(threads, t => Assert.False(t.Pool));
        Assert.Single(threads.Select(t => t.Id).Distinct());
    }

    [Fact]
    public async Task Writes_queued_together_share_one_transaction()
    {
        const int Count = 500;
        var transactions = new System.Collections.Concurrent.ConcurrentBag<object>();
        using var gate = new WriterGate(_temp.Database);
        await gate.HeldAsync;
        var writes = Enumerable.Range(0, Count).Select(i => _temp.Database.ExecuteAsync(context =>
        {
            transactions.Add(context.Transaction!);
            var command = (SqliteCommand)context.Command("INSERT INTO elemta_queue (domain, message_id, priority, due_at) VALUES ('example.net', @id, 0, 0)");
            command.Parameters.AddWithValue("@id", $"m{i}");
            command.ExecuteNonQuery();
        }, CancellationToken.None)).ToArray();
        gate.Release();
        await Task.WhenAll(writes).WaitAsync(Long);

        Assert.Equal(Count, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue WHERE domain <> 'content.test'"));
        // Everything queued while the writer was busy fits one batch (at most 512): one transaction, one sync.
        Assert.Single(transactions.Distinct(ReferenceEqualityComparer.Instance));
    }

    [Fact]
    public async Task A_failing_write_fails_alone_and_its_batch_neighbours_commit()
    {
        var bodies = new MessageStore(_temp.Database);
        var queue = new QueueStore(_temp.Database);
        using var gate = new WriterGate(_temp.Database);
        await gate.HeldAsync;

        // All of these queue up behind the gate and are taken as one batch.
        var before = Enumerable.Range(0, 20).Select(i => MessageContentTests.StoreAsync(bodies, $"before{i}", new byte[] { 1 })).ToArray();
        var throwing = _temp.Database.ExecuteAsync(context =>
        {
            // A half-done write: its row must vanish with it.
            var command = (SqliteCommand)context.Command("INSERT INTO elemta_queue (domain, message_id, priority, due_at) VALUES ('bad.test', 'half', 0, 0)");
            command.ExecuteNonQuery();
            throw new InvalidOperationException("boom");
        }, CancellationToken.None);
        var badSql = _temp.Database.ExecuteAsync(
            context => context.Command("INSERT INTO no_such_table VALUES (1)").ExecuteNonQuery(),
            CancellationToken.None);
        var after = Enumerable.Range(0, 20).Select(i => queue.UpsertAsync(new QueueEntry("example.net", $"after{i}", 0, T0), CancellationToken.None)).ToArray();
        gate.Release();

        await Task.WhenAll([.. before, .. after]).WaitAsync(Long);
        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() => throwing.WaitAsync(Long));
        Assert.Equal("boom", thrown.Message);
        await Assert.ThrowsAsync<SqliteException>(() => badSql.WaitAsync(Long));

        Assert.Equal(20, _temp.Scalar("SELECT COUNT(*) FROM elemta_message_body"));
        Assert.Equal(20, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue WHERE domain = 'example.net'"));
        Assert.Equal(0, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue WHERE domain = 'bad.test'"));
    }

    [Fact]
    public async Task A_failing_write_alone_fails_and_the_writer_goes_on()
    {
        var queue = new QueueStore(_temp.Database);

        await Assert.ThrowsAsync<InvalidOperationException>(
            () => _temp.Database.ExecuteAsync(_ => throw new InvalidOperationException("boom"), CancellationToken.None).WaitAsync(Long));
        await queue.UpsertAsync(new QueueEntry("example.net", "m1", 0, T0), CancellationToken.None).WaitAsync(Long);

        Assert.Equal(1, await queue.CountAsync("example.net", CancellationToken.None));
    }

    [Fact]
    public async Task Writes_queued_before_dispose_are_committed()
    {
        var queue = new QueueStore(_temp.Database);
        using var gate = new WriterGate(_temp.Database);
        await gate.HeldAsync;
        var writes = Enumerable.Range(0, 50).Select(i => queue.UpsertAsync(new QueueEntry("example.net", $"m{i}", 0, T0), CancellationToken.None)).ToArray();

        var disposing = _temp.Database.DisposeAsync().AsTask();
        gate.Release();
        await disposing.WaitAsync(Long);

        Assert.All(writes, w => Assert.True(w.IsCompletedSuccessfully));
        Assert.Equal(50, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue"));
    }

    [Fact]
    public async Task Writes_after_dispose_are_refused()
    {
        var queue = new QueueStore(_temp.Database);
        await queue.UpsertAsync(new QueueEntry("example.net", "m1", 0, T0), CancellationToken.None);
        await _temp.Database.DisposeAsync();

        await Assert.ThrowsAsync<ObjectDisposedException>(() => queue.UpsertAsync(new QueueEntry("example.net", "m2", 0, T0), CancellationToken.None));
    }

    [Fact]
    public async Task Cancelling_the_wait_does_not_cancel_the_write()
    {
        var queue = new QueueStore(_temp.Database);
        using var gate = new WriterGate(_temp.Database);
        await gate.HeldAsync;
        using var cancel = new CancellationTokenSource();
        var write = queue.UpsertAsync(new QueueEntry("example.net", "m1", 0, T0), cancel.Token);

        await cancel.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => write);
        gate.Release();
        await queue.UpsertAsync(new QueueEntry("example.net", "m2", 0, T0), CancellationToken.None).WaitAsync(Long);

        // The later write committed after the cancelled one, which was already queued: both are there.
        Assert.Equal(2, await queue.CountAsync("example.net", CancellationToken.None));
    }
}
