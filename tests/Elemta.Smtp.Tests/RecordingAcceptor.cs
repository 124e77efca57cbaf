using System.Collections.Concurrent;
using Elemta.Contracts;

namespace Elemta.Smtp.Tests;

/// <summary>One message as the SMTP session handed it over.</summary>
internal sealed record AcceptedMessage(MessageEnvelope Envelope, byte[] Content);

/// <summary>
/// The test's <see cref="IMessageAcceptor"/>: records every envelope and a copy of the content. The session answers
/// 250 only after <see cref="AcceptAsync"/> returns, so once a client has read that 250 the message is already
/// here, and no polling is needed. <see cref="FailNext"/> makes the next calls throw, for the 451 path.
/// </summary>
internal sealed class RecordingAcceptor : IMessageAcceptor
{
    private readonly ConcurrentQueue<AcceptedMessage> _messages = new();
    private int _failuresLeft;
    private int _calls;

    public IReadOnlyList<AcceptedMessage> Messages => [.. _messages];

    /// <summary>Every call, including those that threw.</summary>
    public int Calls => Volatile.Read(ref _calls);

    /// <summary>Makes the next <paramref name="count"/> calls throw, as an unavailable store would.</summary>
    public void FailNext(int count) => Volatile.Write(ref _failuresLeft, count);

    public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        if (Interlocked.Decrement(ref _failuresLeft) >= 0)
        {
            throw new InvalidOperationException("Test acceptor: the message store is unavailable.");
        }

        _messages.Enqueue(new AcceptedMessage(envelope, content.ToArray()));
        return Task.CompletedTask;
    }
}

/// <summary>The test's <see cref="IConnectionPolicy"/>: allows or denies every connection and records who asked.</summary>
internal sealed class TestConnectionPolicy(bool allow, bool fail = false) : IConnectionPolicy
{
    private readonly ConcurrentQueue<System.Net.IPAddress> _clients = new();

    public IReadOnlyList<System.Net.IPAddress> Clients => [.. _clients];

    public Task<bool> AllowConnectionAsync(System.Net.IPAddress client, CancellationToken cancellationToken)
    {
        _clients.Enqueue(client);
        return fail ? Task.FromException<bool>(new InvalidOperationException("Test policy: the rate-limit grain is unavailable.")) : Task.FromResult(allow);
    }
}
