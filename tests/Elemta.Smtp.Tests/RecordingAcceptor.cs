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

    /// <summary>
    /// When set, awaited before the content is copied, as a store's commit is awaited: the session must keep the
    /// content it lent unchanged until the call returns.
    /// </summary>
    public Func<MessageEnvelope, Task>? BeforeRecording { get; set; }

    public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _calls);
        if (Interlocked.Decrement(ref _failuresLeft) >= 0)
        {
            throw new InvalidOperationException("Test acceptor: the message store is unavailable.");
        }

        if (BeforeRecording is { } before)
        {
            return RecordAfterAsync(before(envelope), envelope, content);
        }

        _messages.Enqueue(new AcceptedMessage(envelope, content.ToArray()));
        return Task.CompletedTask;
    }

    private async Task RecordAfterAsync(Task before, MessageEnvelope envelope, ReadOnlyMemory<byte> content)
    {
        await before;
        _messages.Enqueue(new AcceptedMessage(envelope, content.ToArray()));
    }
}

/// <summary>
/// The test's <see cref="Admission.IConnectionLimiter"/>, which the built-in <c>connection-limits</c> plugin asks:
/// allows or denies every connection (or fails, as an unreachable rate-limit grain would) and records who asked.
/// Admitted connections hold a lease counted in <see cref="Open"/>; with <paramref name="maxConcurrent"/>, connections
/// over that many open at once are refused with <paramref name="overLimit"/>, as the grain-backed limiter refuses them.
/// </summary>
internal sealed class TestConnectionPolicy(
    bool allow,
    bool fail = false,
    int maxConcurrent = int.MaxValue,
    Admission.ConnectionDenial overLimit = Admission.ConnectionDenial.TooManyFromAddress,
    Task? gate = null) : Admission.IConnectionLimiter
{
    private readonly ConcurrentQueue<System.Net.IPAddress> _clients = new();
    private readonly SemaphoreSlim _released = new(0);
    private readonly Lock _lock = new();
    private int _open;

    public IReadOnlyList<System.Net.IPAddress> Clients => [.. _clients];

    /// <summary>Leases held now: connections admitted and not yet ended.</summary>
    public int Open
    {
        get
        {
            lock (_lock)
            {
                return _open;
            }
        }
    }

    /// <summary>Completes when one more lease has been released (each release is waited for once).</summary>
    public Task WaitForReleaseAsync() => _released.WaitAsync(TestTimeouts.Token());

    public Task<Admission.ConnectionAdmission> AdmitAsync(System.Net.IPAddress client, CancellationToken cancellationToken)
    {
        _clients.Enqueue(client);
        if (gate is not null)
        {
            // Answers only when the test opens the gate, ignoring the token, as a grain call stuck in the cluster would.
            return gate.ContinueWith(_ => Admit(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }

        return Task.FromResult(Admit());
    }

    private Admission.ConnectionAdmission Admit()
    {
        if (fail)
        {
            throw new InvalidOperationException("Test policy: the rate-limit grain is unavailable.");
        }

        if (!allow)
        {
            return Admission.ConnectionAdmission.Deny(Admission.ConnectionDenial.RateLimited);
        }

        lock (_lock)
        {
            if (_open >= maxConcurrent)
            {
                return Admission.ConnectionAdmission.Deny(overLimit);
            }

            _open++;
        }

        return Admission.ConnectionAdmission.Admit(new Lease(this));
    }

    private sealed class Lease(TestConnectionPolicy policy) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            lock (policy._lock)
            {
                policy._open--;
            }

            policy._released.Release();
            return ValueTask.CompletedTask;
        }
    }
}
