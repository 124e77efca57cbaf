using Elemta.Contracts;

namespace Elemta.Storage.Tests;

public abstract class MessageStoreTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 3, 2, 10, 0, 0, 250, TimeSpan.Zero);
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

    private static MessageEnvelope Envelope(string id, params string[] recipients) =>
        new(id, "sender@origin.test", [.. recipients], T0, "192.0.2.10", "client.origin.test", 42, MessagePriority.High);

    [Fact]
    public async Task Accept_stores_content_envelope_and_one_queue_entry_per_domain()
    {
        var envelope = Envelope("m1", "a@example.net", "b@Example.NET", "c@other.test");
        byte[] content = [.. "Subject: x\r\n\r\nbody\r\n"u8];

        await _store.AcceptAsync(envelope, content, CancellationToken.None);

        Assert.Equal(content, await _store.ReadContentAsync("m1", CancellationToken.None));
        var queue = _temp.Queue;
        var net = Assert.Single(await queue.GetDueAsync("example.net", T0, 10, CancellationToken.None));
        Assert.Equal(new QueueEntry("example.net", "m1", (int)MessagePriority.High, T0), net);
        Assert.Single(await queue.GetDueAsync("other.test", T0, 10, CancellationToken.None));
        Assert.Equal(2, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue"));
    }

    [Fact]
    public async Task Accepted_envelope_reads_back()
    {
        var envelope = Envelope("m1", "a@example.net", "b@other.test");
        await _store.AcceptAsync(envelope, new byte[] { 1 }, CancellationToken.None);

        var read = await _store.ReadEnvelopeAsync("m1", CancellationToken.None);

        Assert.NotNull(read);
        Assert.Equal(envelope.MessageId, read.MessageId);
        Assert.Equal(envelope.Sender, read.Sender);
        Assert.Equal(envelope.Recipients.ToArray(), read.Recipients.ToArray());
        Assert.Equal(envelope.ReceivedAt, read.ReceivedAt);
        Assert.Equal(envelope.ClientAddress, read.ClientAddress);
        Assert.Equal(envelope.HeloName, read.HeloName);
        Assert.Equal(envelope.Size, read.Size);
        Assert.Equal(envelope.Priority, read.Priority);
    }

    [Fact]
    public async Task Null_sender_envelope_reads_back_with_an_empty_sender()
    {
        await _store.AcceptAsync(Envelope("m1", "a@example.net") with { Sender = string.Empty }, new byte[] { 1 }, CancellationToken.None);

        Assert.Equal(string.Empty, (await _store.ReadEnvelopeAsync("m1", CancellationToken.None))!.Sender);
    }

    [Fact]
    public async Task Envelope_of_an_unknown_message_is_null()
    {
        Assert.Null(await _store.ReadEnvelopeAsync("never-accepted", CancellationToken.None));
    }

    [Fact]
    public async Task Accepting_the_same_id_again_replaces_the_record_without_duplicate_queue_entries()
    {
        await _store.AcceptAsync(Envelope("m1", "a@example.net"), new byte[] { 1 }, CancellationToken.None);

        await _store.AcceptAsync(Envelope("m1", "a@example.net", "b@example.net") with { HeloName = "second" }, new byte[] { 2 }, CancellationToken.None);

        Assert.Equal("second", (await _store.ReadEnvelopeAsync("m1", CancellationToken.None))!.HeloName);
        Assert.Equal(new byte[] { 2 }, await _store.ReadContentAsync("m1", CancellationToken.None));
        Assert.Equal(1, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue"));
    }

    [Fact]
    public async Task Deleting_the_content_also_drops_the_envelope_and_keeps_the_queue_rows()
    {
        await _store.AcceptAsync(Envelope("m1", "a@example.net"), new byte[] { 1 }, CancellationToken.None);

        await _store.DeleteContentAsync("m1", CancellationToken.None);

        Assert.Null(await _store.ReadContentAsync("m1", CancellationToken.None));
        Assert.Null(await _store.ReadEnvelopeAsync("m1", CancellationToken.None));
        Assert.Equal(1, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue"));
    }

    [Fact]
    public async Task Concurrent_acceptances_are_all_durable()
    {
        const int Count = 300;

        await Task.WhenAll(Enumerable.Range(0, Count).Select(i =>
            Task.Run(() => _store.AcceptAsync(Envelope($"m{i}", $"r@d{i % 5}.test", $"r@e{i % 3}.test"), BitConverter.GetBytes(i), CancellationToken.None))))
            .WaitAsync(TimeSpan.FromSeconds(60));

        Assert.Equal(Count, _temp.Scalar("SELECT COUNT(*) FROM elemta_message_body WHERE envelope IS NOT NULL"));
        Assert.Equal(2 * Count, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue"));
    }
}
