using Elemta.Contracts;
using Elemta.Storage.Relational;
using Npgsql;

namespace Elemta.Storage.Tests;

/// <summary>
/// The group commit on PostgreSQL: concurrent acceptances share transactions (one WAL flush for many), and a batch
/// that fails does not take its neighbours with it. Rows written by one transaction share its id (<c>xmin</c>), which
/// is what the tests count.
/// </summary>
public sealed class PostgresGroupCommitTests : IAsyncLifetime
{
    private static readonly TimeSpan Long = TimeSpan.FromSeconds(60);
    private static readonly DateTimeOffset T0 = new(2026, 3, 2, 10, 0, 0, TimeSpan.Zero);
    private PostgresStoreFixture _store = null!;

    public async Task InitializeAsync() => _store = await PostgresStoreFixture.CreateAsync();

    public async Task DisposeAsync() => await _store.DisposeAsync();

    [Fact]
    public async Task Concurrent_acceptances_share_commits_and_all_are_durable()
    {
        const int Count = 400;
        using var start = new ManualResetEventSlim();
        var accepts = Enumerable.Range(0, Count).Select(i => Task.Run(() =>
        {
            start.Wait();
            var envelope = new MessageEnvelope($"m{i}", "s@origin.test", [$"r@d{i % 5}.test"], T0, "192.0.2.1", "c.test", 10, MessagePriority.Normal);
            return _store.Messages.AcceptAsync(envelope, new byte[] { (byte)i }, CancellationToken.None);
        })).ToArray();
        start.Set();
        await Task.WhenAll(accepts).WaitAsync(Long);

        Assert.Equal(Count, _store.Scalar("SELECT COUNT(*) FROM elemta_message_body"));
        Assert.Equal(Count, _store.Scalar("SELECT COUNT(*) FROM elemta_queue"));
        var transactions = _store.Scalar("SELECT COUNT(DISTINCT xmin::text) FROM elemta_message_body");
        // Every acceptance's rows commit together (the same transaction id on its body, listing and queue rows)...
        Assert.Equal(0, _store.Scalar("""
            SELECT COUNT(*) FROM elemta_message_body b JOIN elemta_queue q ON q.message_id = b.message_id
            WHERE b.xmin::text <> q.xmin::text
            """));
        // ...and acceptances queued while a commit was in flight share the next one.
        Assert.True(transactions < Count / 2, $"{Count} acceptances took {transactions} transactions");
    }

    [Fact]
    public async Task A_failing_batch_fails_alone_and_its_group_neighbours_commit()
    {
        var database = _store.Database;
        var bad = new WriteBatch();
        bad.Add(StoreSql.UpsertEntry).Bind("@domain", "bad.test").Bind("@id", "half").Bind("@priority", 0).Bind("@due", 0L);
        bad.Add("INSERT INTO no_such_table VALUES (1)");

        // Queued together, so the writer's loops take them in a few groups; the bad one is among them.
        var writes = new List<Task>();
        for (var i = 0; i < 50; i++)
        {
            writes.Add(_store.Queue.UpsertAsync(new QueueEntry("example.net", $"before{i}", 0, T0), CancellationToken.None));
        }

        var failing = database.WriteAsync(bad, CancellationToken.None);
        for (var i = 0; i < 50; i++)
        {
            writes.Add(_store.Queue.UpsertAsync(new QueueEntry("example.net", $"after{i}", 0, T0), CancellationToken.None));
        }

        await Task.WhenAll(writes).WaitAsync(Long);
        await Assert.ThrowsAsync<PostgresException>(() => failing.WaitAsync(Long));
        Assert.Equal(100, _store.Scalar("SELECT COUNT(*) FROM elemta_queue WHERE domain = 'example.net'"));
        // The failed batch's first statement went with it.
        Assert.Equal(0, _store.Scalar("SELECT COUNT(*) FROM elemta_queue WHERE domain = 'bad.test'"));
    }

    [Fact]
    public async Task A_query_in_a_batch_reads_its_rows_inside_the_transaction_and_updates_report_their_counts()
    {
        await _store.Queue.UpsertAsync(new QueueEntry("a.test", "m1", 0, T0), CancellationToken.None);
        await _store.Queue.UpsertAsync(new QueueEntry("b.test", "m1", 0, T0), CancellationToken.None);
        await _store.Queue.UpsertAsync(new QueueEntry("b.test", "m2", 0, T0), CancellationToken.None);

        var batch = new WriteBatch();
        var update = batch.Add("UPDATE elemta_queue SET held = 1 WHERE message_id = @id").Bind("@id", "m1");
        var domains = batch.AddStringQuery("SELECT domain FROM elemta_queue WHERE held = 1 ORDER BY domain");
        var second = batch.Add("UPDATE elemta_queue SET priority = 5 WHERE domain = @domain").Bind("@domain", "b.test");
        await _store.Database.WriteAsync(batch, CancellationToken.None);

        Assert.Equal(2, update.RowsAffected);
        Assert.Equal(["a.test", "b.test"], domains.Strings!);
        Assert.Equal(2, second.RowsAffected);
    }
}
