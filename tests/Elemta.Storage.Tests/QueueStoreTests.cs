namespace Elemta.Storage.Tests;

public abstract class QueueStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 2, 10, 0, 0, TimeSpan.Zero);
    private IStoreFixture _temp = null!;
    private IQueueStore _queue = null!;

    /// <summary>A fresh, migrated database of the provider under test.</summary>
    protected abstract Task<IStoreFixture> CreateStoreAsync();

    public async Task InitializeAsync()
    {
        _temp = await CreateStoreAsync();
        _queue = _temp.Queue;
    }

    public async Task DisposeAsync() => await _temp.DisposeAsync();

    private Task UpsertAsync(string domain, string id, DateTimeOffset due, int priority = 200) =>
        _queue.UpsertAsync(new QueueEntry(domain, id, priority, due), CancellationToken.None);

    [Fact]
    public async Task GetDueAsync_returns_only_due_entries_of_the_domain_earliest_first()
    {
        await UpsertAsync("example.net", "late", T0.AddMinutes(-1));
        await UpsertAsync("example.net", "future", T0.AddMinutes(5));
        await UpsertAsync("example.net", "earliest", T0.AddHours(-2), priority: 0);
        await UpsertAsync("example.net", "exactly-now", T0);
        await UpsertAsync("other.test", "elsewhere", T0.AddHours(-3));

        var due = await _queue.GetDueAsync("example.net", T0, 100, CancellationToken.None);

        Assert.Equal(["earliest", "late", "exactly-now"], due.Select(e => e.MessageId));
        Assert.Equal(new QueueEntry("example.net", "earliest", 0, T0.AddHours(-2)), due[0]);
        Assert.All(due, e => Assert.Equal("example.net", e.Domain));
    }

    [Fact]
    public async Task GetDueAsync_honours_the_limit()
    {
        for (var i = 0; i < 10; i++)
        {
            await UpsertAsync("example.net", $"m{i}", T0.AddSeconds(-i));
        }

        var due = await _queue.GetDueAsync("example.net", T0, 3, CancellationToken.None);

        Assert.Equal(["m9", "m8", "m7"], due.Select(e => e.MessageId));
    }

    [Fact]
    public async Task Due_times_keep_millisecond_precision_and_their_instant()
    {
        var due = new DateTimeOffset(2026, 3, 2, 12, 0, 0, 123, TimeSpan.FromHours(2));
        await UpsertAsync("example.net", "m1", due);

        var entry = Assert.Single(await _queue.GetDueAsync("example.net", due, 10, CancellationToken.None));

        Assert.Equal(due, entry.DueAt);
        Assert.Empty(await _queue.GetDueAsync("example.net", due.AddMilliseconds(-1), 10, CancellationToken.None));
    }

    [Fact]
    public async Task Upsert_of_an_existing_entry_moves_it_instead_of_adding_another()
    {
        await UpsertAsync("example.net", "m1", T0.AddMinutes(-5), priority: 200);

        await UpsertAsync("example.net", "m1", T0.AddMinutes(10), priority: 100);

        Assert.Equal(1, await _queue.CountAsync("example.net", CancellationToken.None));
        Assert.Empty(await _queue.GetDueAsync("example.net", T0, 10, CancellationToken.None));
        var moved = Assert.Single(await _queue.GetDueAsync("example.net", T0.AddMinutes(10), 10, CancellationToken.None));
        Assert.Equal(new QueueEntry("example.net", "m1", 100, T0.AddMinutes(10)), moved);
    }

    [Fact]
    public async Task Same_message_in_two_domains_is_two_entries()
    {
        await UpsertAsync("example.net", "m1", T0);
        await UpsertAsync("other.test", "m1", T0);

        Assert.Equal(1, await _queue.CountAsync("example.net", CancellationToken.None));
        Assert.Equal(1, await _queue.CountAsync("other.test", CancellationToken.None));
    }

    [Fact]
    public async Task RemoveAsync_removes_only_that_entry()
    {
        await UpsertAsync("example.net", "m1", T0);
        await UpsertAsync("example.net", "m2", T0);
        await UpsertAsync("other.test", "m1", T0);

        await _queue.RemoveAsync("example.net", "m1", CancellationToken.None);
        await _queue.RemoveAsync("example.net", "never-queued", CancellationToken.None);

        Assert.Equal(["m2"], (await _queue.GetDueAsync("example.net", T0, 10, CancellationToken.None)).Select(e => e.MessageId));
        Assert.Equal(1, await _queue.CountAsync("other.test", CancellationToken.None));
    }

    [Fact]
    public async Task GetNextDueAsync_returns_the_earliest_due_time_or_null()
    {
        Assert.Null(await _queue.GetNextDueAsync("example.net", CancellationToken.None));

        await UpsertAsync("example.net", "m1", T0.AddMinutes(30));
        await UpsertAsync("example.net", "m2", T0.AddMinutes(10));
        await UpsertAsync("other.test", "m3", T0.AddMinutes(1));

        Assert.Equal(T0.AddMinutes(10), await _queue.GetNextDueAsync("example.net", CancellationToken.None));

        await _queue.RemoveAsync("example.net", "m2", CancellationToken.None);
        Assert.Equal(T0.AddMinutes(30), await _queue.GetNextDueAsync("example.net", CancellationToken.None));

        await _queue.RemoveAsync("example.net", "m1", CancellationToken.None);
        Assert.Null(await _queue.GetNextDueAsync("example.net", CancellationToken.None));
    }

    [Fact]
    public async Task CountAsync_counts_the_entries_of_the_domain()
    {
        Assert.Equal(0, await _queue.CountAsync("example.net", CancellationToken.None));

        for (var i = 0; i < 7; i++)
        {
            await UpsertAsync("example.net", $"m{i}", T0.AddMinutes(i));
        }

        await UpsertAsync("other.test", "x", T0);

        Assert.Equal(7, await _queue.CountAsync("example.net", CancellationToken.None));
    }

    [Fact]
    public async Task GetDomainsDueAsync_returns_each_domain_with_a_due_entry_once()
    {
        await UpsertAsync("a.test", "m1", T0.AddMinutes(-1));
        await UpsertAsync("a.test", "m2", T0.AddMinutes(-2));
        await UpsertAsync("b.test", "m1", T0);
        await UpsertAsync("c.test", "m1", T0.AddMinutes(1));

        var due = await _queue.GetDomainsDueAsync(T0, 100, CancellationToken.None);

        Assert.Equal(["a.test", "b.test"], due.Order());
    }

    [Fact]
    public async Task GetDomainsDueAsync_with_max_value_returns_every_domain()
    {
        await UpsertAsync("a.test", "m1", T0.AddMinutes(-1));
        await UpsertAsync("b.test", "m1", T0.AddYears(50));
        await UpsertAsync("c.test", "m1", DateTimeOffset.MaxValue);

        var all = await _queue.GetDomainsDueAsync(DateTimeOffset.MaxValue, 100, CancellationToken.None);

        Assert.Equal(["a.test", "b.test", "c.test"], all.Order());
    }

    [Fact]
    public async Task GetDomainsDueAsync_honours_the_limit()
    {
        for (var i = 0; i < 5; i++)
        {
            await UpsertAsync($"d{i}.test", "m", T0);
            await UpsertAsync($"d{i}.test", "n", T0);
        }

        var due = await _queue.GetDomainsDueAsync(T0, 3, CancellationToken.None);

        Assert.Equal(3, due.Count);
        Assert.Equal(3, due.Distinct().Count());
    }

    [Fact]
    public async Task Entries_survive_closing_and_reopening_the_database()
    {
        await UpsertAsync("example.net", "m1", T0);
        var queue = (await _temp.ReopenAsync()).Queue;

        Assert.Equal(T0, await queue.GetNextDueAsync("example.net", CancellationToken.None));
    }
}
