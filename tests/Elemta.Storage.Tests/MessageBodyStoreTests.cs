using Elemta.Storage.Sqlite;

namespace Elemta.Storage.Tests;

public sealed class MessageBodyStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 3, 2, 10, 0, 0, TimeSpan.Zero);
    private TempDatabase _temp = null!;
    private SqliteMessageBodyStore _store = null!;

    public async Task InitializeAsync()
    {
        _temp = await TempDatabase.CreateAsync();
        _store = new SqliteMessageBodyStore(_temp.Database, new FixedTimeProvider(Now));
    }

    public async Task DisposeAsync() => await _temp.DisposeAsync();

    [Fact]
    public async Task Stored_content_reads_back_and_is_gone_after_delete()
    {
        byte[] content = [.. "Subject: hi\r\n\r\nbody\r\n"u8];

        await _store.StoreAsync("m1", content, CancellationToken.None);
        Assert.Equal(content, await _store.ReadAsync("m1", CancellationToken.None));

        await _store.DeleteAsync("m1", CancellationToken.None);
        Assert.Null(await _store.ReadAsync("m1", CancellationToken.None));
    }

    [Fact]
    public async Task Reading_a_missing_id_returns_null()
    {
        Assert.Null(await _store.ReadAsync("never-stored", CancellationToken.None));
    }

    [Fact]
    public async Task Deleting_a_missing_id_is_not_an_error()
    {
        await _store.DeleteAsync("never-stored", CancellationToken.None);
    }

    [Fact]
    public async Task Storing_the_same_id_again_replaces_the_content()
    {
        await _store.StoreAsync("m1", new byte[] { 1, 2, 3 }, CancellationToken.None);
        await _store.StoreAsync("m1", new byte[] { 4, 5 }, CancellationToken.None);

        Assert.Equal(new byte[] { 4, 5 }, await _store.ReadAsync("m1", CancellationToken.None));
        Assert.Equal(1, _temp.Scalar("SELECT COUNT(*) FROM elemta_message_body WHERE message_id = 'm1'"));
        Assert.Equal(2, _temp.Scalar("SELECT size FROM elemta_message_body WHERE message_id = 'm1'"));
    }

    [Fact]
    public async Task Size_and_creation_time_are_recorded()
    {
        await _store.StoreAsync("m1", new byte[1234], CancellationToken.None);

        Assert.Equal(1234, _temp.Scalar("SELECT size FROM elemta_message_body WHERE message_id = 'm1'"));
        Assert.Equal(Now.ToUnixTimeMilliseconds(), _temp.Scalar("SELECT created_at FROM elemta_message_body WHERE message_id = 'm1'"));
    }

    [Fact]
    public async Task Large_binary_content_round_trips_exactly()
    {
        var content = new byte[8 * 1024 * 1024];
        new Random(42).NextBytes(content);

        await _store.StoreAsync("big", content, CancellationToken.None);

        Assert.Equal(content, await _store.ReadAsync("big", CancellationToken.None));
    }

    [Fact]
    public async Task Content_given_as_a_slice_stores_only_the_slice()
    {
        var buffer = new byte[] { 9, 9, 1, 2, 3, 9 };

        await _store.StoreAsync("slice", buffer.AsMemory(2, 3), CancellationToken.None);

        Assert.Equal(new byte[] { 1, 2, 3 }, await _store.ReadAsync("slice", CancellationToken.None));
    }

    [Fact]
    public async Task Empty_content_reads_back_as_empty_not_missing()
    {
        await _store.StoreAsync("empty", ReadOnlyMemory<byte>.Empty, CancellationToken.None);

        Assert.Equal(Array.Empty<byte>(), await _store.ReadAsync("empty", CancellationToken.None));
    }

    [Fact]
    public async Task Content_survives_closing_and_reopening_the_database()
    {
        byte[] content = [.. "Subject: durable\r\n\r\nstill here\r\n"u8];
        await _store.StoreAsync("m1", content, CancellationToken.None);
        await _store.StoreAsync("m2", content, CancellationToken.None);
        await _store.DeleteAsync("m2", CancellationToken.None);
        await _temp.Database.DisposeAsync();

        var reopened = _temp.Open();
        await reopened.MigrateAsync(CancellationToken.None);
        var store = new SqliteMessageBodyStore(reopened, TimeProvider.System);

        Assert.Equal(content, await store.ReadAsync("m1", CancellationToken.None));
        Assert.Null(await store.ReadAsync("m2", CancellationToken.None));
    }

    [Fact]
    public async Task Storing_with_an_empty_id_is_refused()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => _store.StoreAsync(string.Empty, new byte[] { 1 }, CancellationToken.None));
    }
}
