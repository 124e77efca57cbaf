using System.Runtime.InteropServices;

namespace Elemta.Delivery.Smtp;

/// <summary>
/// Idle outbound SMTP sessions, kept per <see cref="SmtpDestination"/> so that the next message to the same
/// destination skips TCP connect, greeting, EHLO and STARTTLS (RFC 5321 §3.3 allows any number of transactions
/// per session; Postfix's connection cache does the same).
/// </summary>
/// <remarks>
/// <para>
/// A session is either idle here or owned by exactly one delivery: <see cref="Rent"/> removes it, so two
/// deliveries never share one. Only sessions whose last transaction ended cleanly come back
/// (<see cref="ReturnAsync"/>); the agent drops any other.
/// </para>
/// <para>
/// Idle sessions are closed with QUIT after <see cref="DeliveryOptions.ConnectionIdleTimeout"/> by one timer of
/// the injected <see cref="TimeProvider"/>. Every session waits the same time, so the oldest idle session of a
/// destination is always the first of its list and one timer, armed for the earliest expiry, serves them all.
/// </para>
/// </remarks>
internal sealed class SmtpConnectionPool : IAsyncDisposable, IDisposable
{
    /// <summary>Bounds the wait for the reply to QUIT when the pool closes a session, so shutdown cannot hang on a silent server.</summary>
    internal static readonly TimeSpan QuitTimeout = TimeSpan.FromSeconds(10);

    private readonly Lock _gate = new();

    // Per destination, idle sessions in the order they came back: the end is the most recently used (reused
    // first, most likely still alive), the start the oldest (closed first by the idle timer).
    private readonly Dictionary<SmtpDestination, List<SmtpConnection>> _idle = [];
    private readonly TimeProvider _timeProvider;
    private readonly TimeSpan _idleTimeout;
    private readonly int _maxIdlePerDestination;
    private readonly int _maxMessagesPerConnection;
    private readonly ITimer _timer;
    private bool _timerArmed;
    private bool _disposed;
    private int _idleCount;

    // QUITs started by the idle timer; disposal waits for them.
    private Task _closing = Task.CompletedTask;

    public SmtpConnectionPool(DeliveryOptions options, TimeProvider timeProvider)
    {
        _timeProvider = timeProvider;
        _idleTimeout = options.ConnectionIdleTimeout;
        _maxIdlePerDestination = options.MaxIdleConnectionsPerDestination;
        _maxMessagesPerConnection = options.MaxMessagesPerConnection;

        // The pool is created wherever the agent is first resolved (possibly inside a grain call): the timer must
        // not capture that caller's execution context (async locals, activity) for the lifetime of the silo.
        var restoreFlow = false;
        try
        {
            if (!ExecutionContext.IsFlowSuppressed())
            {
                ExecutionContext.SuppressFlow();
                restoreFlow = true;
            }

            _timer = timeProvider.CreateTimer(static state => ((SmtpConnectionPool)state!).CloseExpired(), this, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
        }
        finally
        {
            if (restoreFlow)
            {
                ExecutionContext.RestoreFlow();
            }
        }
    }

    /// <summary>Idle sessions held now, across destinations (for tests and diagnostics).</summary>
    public int IdleCount
    {
        get
        {
            lock (_gate)
            {
                return _idleCount;
            }
        }
    }

    /// <summary>
    /// Takes the most recently used idle session to <paramref name="destination"/> that is still alive, or
    /// returns null when there is none. Sessions found dead on the way are dropped.
    /// </summary>
    public SmtpConnection? Rent(SmtpDestination destination)
    {
        while (true)
        {
            SmtpConnection connection;
            lock (_gate)
            {
                if (!_idle.TryGetValue(destination, out var idle) || idle.Count == 0)
                {
                    return null;
                }

                connection = idle[^1];
                idle.RemoveAt(idle.Count - 1);
                _idleCount--;
            }

            // Checked outside the lock: it is a system call, and the session is ours now.
            if (connection.IsAlive)
            {
                return connection;
            }

            // The server closed it while idle: nobody to say QUIT to.
            connection.Dispose();
        }
    }

    /// <summary>
    /// Takes back a session whose last transaction ended cleanly (a definite 250 to DATA). It becomes idle, or is
    /// closed with QUIT when it has carried <see cref="DeliveryOptions.MaxMessagesPerConnection"/> messages, its
    /// destination already has <see cref="DeliveryOptions.MaxIdleConnectionsPerDestination"/> idle sessions, or
    /// the pool is disposed. The returned task completes when the session is idle or closed.
    /// </summary>
    public Task ReturnAsync(SmtpConnection connection)
    {
        if (connection.Messages < _maxMessagesPerConnection && _maxIdlePerDestination > 0 && connection.Client.IsConnected)
        {
            lock (_gate)
            {
                if (!_disposed)
                {
                    ref var idle = ref CollectionsMarshal.GetValueRefOrAddDefault(_idle, connection.Destination, out _);
                    idle ??= new List<SmtpConnection>(Math.Min(_maxIdlePerDestination, 4));
                    if (idle.Count < _maxIdlePerDestination)
                    {
                        connection.IdleSince = _timeProvider.GetUtcNow();
                        idle.Add(connection);
                        _idleCount++;
                        if (!_timerArmed)
                        {
                            // Otherwise the armed timer fires no later than this session's expiry and re-arms.
                            _timerArmed = true;
                            _timer.Change(_idleTimeout, Timeout.InfiniteTimeSpan);
                        }

                        return Task.CompletedTask;
                    }
                }
            }
        }

        return connection.QuitAsync(QuitTimeout, _timeProvider);
    }

    /// <summary>Closes every idle session with QUIT and waits for the QUITs; sessions returned later are closed at once.</summary>
    public async ValueTask DisposeAsync()
    {
        List<SmtpConnection> all = [];
        Task closing;
        lock (_gate)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            foreach (var idle in _idle.Values)
            {
                all.AddRange(idle);
            }

            _idle.Clear();
            _idleCount = 0;
            closing = _closing;
        }

        await _timer.DisposeAsync().ConfigureAwait(false);
        await QuitAllAsync(all).ConfigureAwait(false);
        await closing.ConfigureAwait(false);
    }

    /// <summary>Synchronous disposal for containers that do not dispose asynchronously; same effect as <see cref="DisposeAsync"/>.</summary>
    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();

    /// <summary>The timer callback: closes the sessions idle for <see cref="DeliveryOptions.ConnectionIdleTimeout"/> and re-arms for the next expiry.</summary>
    private void CloseExpired()
    {
        List<SmtpConnection>? expired = null;
        TaskCompletionSource? closed = null;
        lock (_gate)
        {
            _timerArmed = false;
            if (_disposed)
            {
                return;
            }

            var now = _timeProvider.GetUtcNow();
            var nextExpiry = DateTimeOffset.MaxValue;
            foreach (var (destination, idle) in _idle)
            {
                var count = 0;
                while (count < idle.Count && idle[count].IdleSince + _idleTimeout <= now)
                {
                    count++;
                }

                if (count > 0)
                {
                    if (expired is null)
                    {
                        expired = [];
                        closed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        _closing = _closing.IsCompleted ? closed.Task : Task.WhenAll(_closing, closed.Task);
                    }

                    expired.AddRange(CollectionsMarshal.AsSpan(idle)[..count]);
                    idle.RemoveRange(0, count);
                    _idleCount -= count;
                }

                if (idle.Count == 0)
                {
                    // Forget quiet destinations, or the map would grow with every MX ever used. Removing the
                    // current entry during enumeration is allowed by Dictionary.
                    _idle.Remove(destination);
                }
                else if (idle[0].IdleSince + _idleTimeout < nextExpiry)
                {
                    nextExpiry = idle[0].IdleSince + _idleTimeout;
                }
            }

            if (nextExpiry != DateTimeOffset.MaxValue)
            {
                _timerArmed = true;
                var wait = nextExpiry - now;
                _timer.Change(wait > TimeSpan.Zero ? wait : TimeSpan.Zero, Timeout.InfiniteTimeSpan);
            }
        }

        if (expired is not null)
        {
            // Started outside the lock, since QUIT is written right away; disposal waits for it through _closing.
            _ = QuitExpiredAsync(expired, closed!);
        }
    }

    private async Task QuitExpiredAsync(List<SmtpConnection> expired, TaskCompletionSource closed)
    {
        try
        {
            await QuitAllAsync(expired).ConfigureAwait(false);
        }
        finally
        {
            closed.SetResult();
        }
    }

    private Task QuitAllAsync(List<SmtpConnection> connections)
    {
        if (connections.Count == 0)
        {
            return Task.CompletedTask;
        }

        var quits = new Task[connections.Count];
        for (var i = 0; i < quits.Length; i++)
        {
            quits[i] = connections[i].QuitAsync(QuitTimeout, _timeProvider);
        }

        return Task.WhenAll(quits);
    }
}
