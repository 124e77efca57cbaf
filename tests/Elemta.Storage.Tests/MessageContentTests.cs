using Elemta.Contracts;

namespace Elemta.Storage.Tests;

/// <summary>The content side of the message store: what is stored is what is read, until it is deleted.</summary>
public abstract class MessageContentTests : IAsyncLifetime
{
    private static readonly DateTimeOffset Now = new(2026, 3, 2, 10, 0, 0, TimeSpan.Zero);
    private IStoreFixture _temp = null!;
    private IMessageStore _store = null!;

    /// <summary>A fresh, migrated database of the provider under test.</summary>
    protected abstract Task<IStoreFixture> CreateStoreAsync();

    public async Task InitializeAsync()
    {
        _temp = await CreateStoreAsync();
        _store = _temp.Messages;
    }

    public async Task DisposeAsync() => await _temp.DisposeAsync();

    internal static Task StoreAsync(IMessageStore store, string id, ReadOnlyMemory<byte> content) =>
        store.AcceptAsync(new MessageEnvelope(id, "sender@origin.test", ["rcpt@content.test"], Now, "192.0.2.1", "client.test", content.Length, MessagePriority.Normal), content, CancellationToken.None);

    [Fact]
    public async Task Stored_content_reads_back_and_is_gone_after_delete()
    {
        byte[] content = [.. "Subject: hi\r\n\r\nbody\r\n"u8];

        await StoreAsync(_store, "m1", content);
        Assert.Equal(content, await _store.ReadContentAsync("m1", CancellationToken.None));

        await _store.DeleteContentAsync("m1", CancellationToken.None);
        Assert.Null(await _store.ReadContentAsync("m1", CancellationToken.None));
    }

    [Fact]
    public async Task Reading_a_missing_id_returns_null()
    {
        Assert.Null(await _store.ReadContentAsync("never-stored", CancellationToken.None));
    }

    [Fact]
    public async Task Deleting_a_missing_id_is_not_an_error()
    {
        await _store.DeleteContentAsync("never-stored", CancellationToken.None);
    }

    [Fact]
    public async Task Storing_the_same_id_again_replaces_the_content()
    {
        await StoreAsync(_store, "m1", new byte[] { 1, 2, 3 });
        await StoreAsync(_store, "m1", new byte[] { 4, 5 });

        Assert.Equal(new byte[] { 4, 5 }, await _store.ReadContentAsync("m1", CancellationToken.None));
        Assert.Equal(1, _temp.Scalar("SELECT COUNT(*) FROM elemta_message_body WHERE message_id = 'm1'"));
        Assert.Equal(2, _temp.Scalar("SELECT size FROM elemta_message_body WHERE message_id = 'm1'"));
    }

    [Fact]
    public async Task Size_and_acceptance_time_are_recorded()
    {
        await StoreAsync(_store, "m1", new byte[1234]);

        Assert.Equal(1234, _temp.Scalar("SELECT size FROM elemta_message_body WHERE message_id = 'm1'"));
        Assert.Equal(Now.ToUnixTimeMilliseconds(), _temp.Scalar("SELECT created_at FROM elemta_message_body WHERE message_id = 'm1'"));
    }

    [Fact]
    public async Task Large_binary_content_round_trips_exactly()
    {
        var content = new byte[8 * 1024 * 1024];
        new Random(42).NextBytes(content);

        await StoreAsync(_store, "big", content);

        Assert.Equal(content, await _store.ReadContentAsync("big", CancellationToken.None));
    }

    [Fact]
    public async Task Content_given_as_a_slice_stores_only_the_slice()
    {
        var buffer = new byte[] { 9, 9, 1, 2, 3, 9 };

        await StoreAsync(_store, "slice", buffer.AsMemory(2, 3));

        Assert.Equal(new byte[] { 1, 2, 3 }, await _store.ReadContentAsync("slice", CancellationToken.None));
    }

    [Fact]
    public async Task A_slice_of_a_pooled_buffer_replacing_a_message_is_stored_exactly_and_survives_reopening()
    {
        // As the SMTP session lends it: a slice of a larger (rented) array with other octets on both sides, reused
        // for the next message as soon as the call has returned.
        var buffer = new byte[512 * 1024];
        new Random(7).NextBytes(buffer);
        var first = buffer.AsMemory(100, 300 * 1024);
        var expectedFirst = first.ToArray();
        await StoreAsync(_store, "pooled", first);
        Array.Fill(buffer, (byte)'x');
        Assert.Equal(expectedFirst, await _store.ReadContentAsync("pooled", CancellationToken.None));

        new Random(8).NextBytes(buffer);
        var second = buffer.AsMemory(1, 70_000);
        var expectedSecond = second.ToArray();
        await StoreAsync(_store, "pooled", second);
        Array.Fill(buffer, (byte)'y');
        var store = (await _temp.ReopenAsync()).Messages;

        Assert.Equal(expectedSecond, await store.ReadContentAsync("pooled", CancellationToken.None));
        Assert.Equal(70_000, _temp.Scalar("SELECT size FROM elemta_message_body WHERE message_id = 'pooled'"));
        Assert.Equal(1, _temp.Scalar("SELECT COUNT(*) FROM elemta_message_body WHERE message_id = 'pooled'"));
    }

    [Fact]
    public async Task Slices_accepted_concurrently_each_keep_their_own_content()
    {
        // Concurrent acceptances share group commits: each row's content must be its own slice.
        var buffers = Enumerable.Range(0, 40).Select(i =>
        {
            var buffer = new byte[20_000 + i];
            new Random(i).NextBytes(buffer);
            return buffer;
        }).ToArray();

        await Task.WhenAll(buffers.Select((buffer, i) => Task.Run(() => StoreAsync(_store, $"c{i}", buffer.AsMemory(i, 10_000 + (i * 100))))));

        for (var i = 0; i < buffers.Length; i++)
        {
            Assert.Equal(buffers[i].AsSpan(i, 10_000 + (i * 100)).ToArray(), await _store.ReadContentAsync($"c{i}", CancellationToken.None));
        }
    }

    [Fact]
    public async Task Content_passed_with_a_cancellable_token_may_be_reused_as_soon_as_the_call_returns()
    {
        // A cancellable wait can end before the write, so the store must not read the caller's memory after the call.
        var buffer = new byte[64 * 1024];
        new Random(9).NextBytes(buffer);
        var expected = buffer.AsSpan(10, 50_000).ToArray();
        using var cancellation = new CancellationTokenSource();

        var accepted = _store.AcceptAsync(new MessageEnvelope("cancellable", "sender@origin.test", ["rcpt@content.test"], Now, "192.0.2.1", "client.test", expected.Length, MessagePriority.Normal), buffer.AsMemory(10, 50_000), cancellation.Token);
        Array.Fill(buffer, (byte)0);
        await accepted;

        Assert.Equal(expected, await _store.ReadContentAsync("cancellable", CancellationToken.None));
    }

    [Fact]
    public async Task Empty_content_reads_back_as_empty_not_missing()
    {
        await StoreAsync(_store, "empty", ReadOnlyMemory<byte>.Empty);

        Assert.Equal(Array.Empty<byte>(), await _store.ReadContentAsync("empty", CancellationToken.None));
    }

    [Fact]
    public async Task Content_survives_closing_and_reopening_the_database()
    {
        byte[] content = [.. "Subject: durable\r\n\r\nstill here\r\n"u8];
        await StoreAsync(_store, "m1", content);
        await StoreAsync(_store, "m2", content);
        await _store.DeleteContentAsync("m2", CancellationToken.None);
        var store = (await _temp.ReopenAsync()).Messages;

        Assert.Equal(content, await store.ReadContentAsync("m1", CancellationToken.None));
        Assert.Null(await store.ReadContentAsync("m2", CancellationToken.None));
    }

    [Fact]
    public async Task Storing_with_an_empty_id_is_refused()
    {
        await Assert.ThrowsAsync<ArgumentException>(() => StoreAsync(_store, string.Empty, new byte[] { 1 }));
    }
}
