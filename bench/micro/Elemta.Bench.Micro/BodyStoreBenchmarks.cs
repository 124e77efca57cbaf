using System.Collections.Immutable;
using BenchmarkDotNet.Attributes;
using Elemta.Contracts;
using Elemta.Storage;
using Elemta.Storage.Sqlite;

namespace Elemta.Bench.Micro;

/// <summary>
/// The embedded body store as the silo opens it (see <see cref="TemporaryDatabase"/>): acceptance through the
/// group-commit writer (content, listing and queue row in one fsync'd commit) and reading the content back as
/// delivery does.
/// </summary>
/// <remarks>
/// <see cref="Accept"/> stores under the same queue id each time, which the store treats as a replacement: the
/// database keeps one message and its size stays put, as in a steady state where delivered messages' pages are
/// reused, instead of growing by the content on every operation.
/// </remarks>
[MemoryDiagnoser]
public class BodyStoreBenchmarks
{
    private TemporaryDatabase _database = null!;
    private MessageStore _store = null!;
    private MessageEnvelope _acceptEnvelope = null!;
    private MessageEnvelope _storedEnvelope = null!;
    private ReadOnlyMemory<byte> _content;

    /// <summary>The size of the message content in octets.</summary>
    [Params(SampleMessages.Small, SampleMessages.Large)]
    public int MessageSize { get; set; }

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _database = await TemporaryDatabase.CreateAsync().ConfigureAwait(false);
        _store = _database.Messages;
        _content = SampleMessages.Content(MessageSize);
        _acceptEnvelope = Envelope("bench-accept");
        _storedEnvelope = Envelope("bench-stored");
        await _store.AcceptAsync(_storedEnvelope, _content, CancellationToken.None).ConfigureAwait(false);
        var stored = await _store.ReadContentAsync(_storedEnvelope.MessageId, CancellationToken.None).ConfigureAwait(false);
        if (stored is null || !stored.AsSpan().SequenceEqual(_content.Span))
        {
            throw new InvalidOperationException("The store did not return the content it was given.");
        }
    }

    [GlobalCleanup]
    public Task CleanupAsync() => _database.DisposeAsync().AsTask();

    /// <summary>Durable acceptance: envelope JSON, content, listing and one queue row, committed and fsync'd.</summary>
    [Benchmark]
    public Task Accept() => _store.AcceptAsync(_acceptEnvelope, _content, CancellationToken.None);

    /// <summary>Reading the whole content back, as a delivery attempt does (a pooled connection, one query).</summary>
    [Benchmark]
    public Task<byte[]?> ReadContent() => _store.ReadContentAsync(_storedEnvelope.MessageId, CancellationToken.None);

    private MessageEnvelope Envelope(string id) =>
        new(id, "alice@example.org", ImmutableArray.Create("bob@example.net"), DateTimeOffset.UnixEpoch.AddDays(20_000),
            "127.0.0.1", "client.example.org", MessageSize, MessagePriority.Normal);
}
