namespace Elemta.Grains;

/// <summary>
/// A count of concurrent holders (such as open SMTP connections) kept as expiring leases: a holder enters with an id,
/// renews before its lease runs out and exits when done. A holder that vanished without exiting (its process crashed)
/// stops renewing, and its lease stops counting when it expires. Time comes from a <see cref="TimeProvider"/> so tests
/// need no sleeps. Not thread-safe: a grain calls it one turn at a time.
/// </summary>
public sealed class ConcurrencyLeases
{
    private readonly TimeProvider _time;
    private readonly Dictionary<Guid, long> _expiries = [];

    // No lease expires before this timestamp (a lower bound: renewals only move expiries later), so a full table is
    // scanned for expired leases only when one may actually have expired.
    private long _earliestExpiry = long.MaxValue;

    /// <summary>Creates an empty table.</summary>
    public ConcurrencyLeases(TimeProvider timeProvider) =>
        _time = timeProvider ?? throw new ArgumentNullException(nameof(timeProvider));

    /// <summary>Leases held and not expired.</summary>
    public int Count
    {
        get
        {
            RemoveExpired(_time.GetTimestamp());
            return _expiries.Count;
        }
    }

    /// <summary>
    /// Takes <paramref name="lease"/> for <paramref name="duration"/> if fewer than <paramref name="max"/> leases are
    /// held. A lease already held is renewed and stays held whatever the count (entering twice is one holder).
    /// </summary>
    public bool TryEnter(Guid lease, int max, TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(max, 1);
        var now = _time.GetTimestamp();
        if (_expiries.ContainsKey(lease))
        {
            Set(lease, now, duration);
            return true;
        }

        if (_expiries.Count >= max)
        {
            RemoveExpired(now);
            if (_expiries.Count >= max)
            {
                return false;
            }
        }

        Set(lease, now, duration);
        return true;
    }

    /// <summary>
    /// Extends <paramref name="lease"/> to <paramref name="duration"/> from now. One that expired or was never known is
    /// held again even over a limit, because its holder is evidently still there; the answer is then false.
    /// </summary>
    public bool Renew(Guid lease, TimeSpan duration)
    {
        var now = _time.GetTimestamp();
        var known = _expiries.TryGetValue(lease, out var expiry) && expiry > now;
        Set(lease, now, duration);
        return known;
    }

    /// <summary>Releases <paramref name="lease"/>; true if it was held.</summary>
    public bool Exit(Guid lease) => _expiries.Remove(lease);

    private void Set(Guid lease, long now, TimeSpan duration)
    {
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(duration, TimeSpan.Zero);
        var ticks = (long)Math.Min(duration.TotalSeconds * _time.TimestampFrequency, long.MaxValue / 2);
        var expiry = now + ticks;
        _expiries[lease] = expiry;
        _earliestExpiry = Math.Min(_earliestExpiry, expiry);
    }

    private void RemoveExpired(long now)
    {
        if (now < _earliestExpiry)
        {
            return;
        }

        var earliest = long.MaxValue;
        foreach (var (lease, expiry) in _expiries)
        {
            if (expiry <= now)
            {
                _expiries.Remove(lease);
            }
            else
            {
                earliest = Math.Min(earliest, expiry);
            }
        }

        _earliestExpiry = earliest;
    }
}
