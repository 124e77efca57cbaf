namespace Elemta.Storage.Tests;

/// <summary>The audit log's contract, run on every provider (a cluster on PostgreSQL shares one log).</summary>
public abstract class AuditLogTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 2, 10, 0, 0, 125, TimeSpan.Zero);
    private IStoreFixture _store = null!;

    /// <summary>A fresh, migrated database of the provider under test.</summary>
    protected abstract Task<IStoreFixture> CreateStoreAsync();

    public async Task InitializeAsync() => _store = await CreateStoreAsync();

    public async Task DisposeAsync() => await _store.DisposeAsync();

    [Fact]
    public async Task Appended_records_read_back_newest_first_with_every_field()
    {
        await _store.Audit.AppendAsync(new AuditRecord(T0, "cli", "user.create", "alice@example.org", "roles=sender"), CancellationToken.None);
        await _store.Audit.AppendAsync(new AuditRecord(T0.AddSeconds(1), "admin", "apikey.create", "k1", "role=viewer name=grafana"), CancellationToken.None);

        var records = await _store.Audit.ReadAsync(null, 10, CancellationToken.None);

        Assert.Equal(
            [
                new AuditRecord(T0.AddSeconds(1), "admin", "apikey.create", "k1", "role=viewer name=grafana"),
                new AuditRecord(T0, "cli", "user.create", "alice@example.org", "roles=sender"),
            ],
            records);
    }

    [Fact]
    public async Task Reading_by_subject_returns_only_that_subjects_records_up_to_the_limit()
    {
        for (var i = 0; i < 5; i++)
        {
            await _store.Audit.AppendAsync(new AuditRecord(T0.AddSeconds(i), "cli", "user.password", "alice@example.org", $"change {i}"), CancellationToken.None);
            await _store.Audit.AppendAsync(new AuditRecord(T0.AddSeconds(i), "cli", "user.password", "bob@example.org", $"change {i}"), CancellationToken.None);
        }

        var alice = await _store.Audit.ReadAsync("alice@example.org", 3, CancellationToken.None);

        Assert.Equal(["change 4", "change 3", "change 2"], alice.Select(r => r.Detail));
        Assert.All(alice, r => Assert.Equal("alice@example.org", r.Subject));
    }

    [Fact]
    public async Task Pages_follow_each_other_by_id_newest_first()
    {
        for (var i = 0; i < 7; i++)
        {
            await _store.Audit.AppendAsync(new AuditRecord(T0.AddSeconds(i), "cli", "user.update", i % 2 == 0 ? "even" : "odd", $"change {i}"), CancellationToken.None);
        }

        var first = await _store.Audit.ReadPageAsync(null, null, 3, CancellationToken.None);
        var second = await _store.Audit.ReadPageAsync(null, first[^1].Id, 3, CancellationToken.None);
        var third = await _store.Audit.ReadPageAsync(null, second[^1].Id, 3, CancellationToken.None);
        var odd = await _store.Audit.ReadPageAsync("odd", null, 10, CancellationToken.None);

        Assert.Equal(["change 6", "change 5", "change 4", "change 3", "change 2", "change 1", "change 0"], first.Concat(second).Concat(third).Select(r => r.Record.Detail));
        Assert.Equal(["change 5", "change 3", "change 1"], odd.Select(r => r.Record.Detail));
        Assert.Empty(await _store.Audit.ReadPageAsync(null, third[^1].Id, 3, CancellationToken.None));
    }

    [Fact]
    public async Task Records_survive_a_reopen_of_the_database()
    {
        await _store.Audit.AppendAsync(new AuditRecord(T0, "system", "user.create", "admin", "initial administrator"), CancellationToken.None);

        _store = await _store.ReopenAsync();

        var record = Assert.Single(await _store.Audit.ReadAsync("admin", 10, CancellationToken.None));
        Assert.Equal("initial administrator", record.Detail);
        Assert.Equal(1, _store.Scalar("SELECT COUNT(*) FROM elemta_audit"));
    }

    [Fact]
    public async Task Concurrent_appends_are_all_kept()
    {
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i =>
            _store.Audit.AppendAsync(new AuditRecord(T0, "cli", "user.update", $"u{i}", "roles"), CancellationToken.None)));

        Assert.Equal(200, _store.Scalar("SELECT COUNT(*) FROM elemta_audit"));
        Assert.Equal(200, (await _store.Audit.ReadAsync(null, 1000, CancellationToken.None)).Count);
    }
}
