namespace Elemta.Grains;

/// <summary>
/// The concurrency and rate a site is allowed now: halved when the site says to slow down, raised one step (one more
/// connection, a quarter more rate) after every run of normal replies, never above the configured maximum. Additive
/// increase, multiplicative decrease, as TCP does, so a busy site is backed off fast and probed back slowly.
/// Not thread-safe: the destination grain calls it one turn at a time.
/// </summary>
public sealed class AdaptiveBudget
{
    private readonly int _recoverAfter;
    private readonly bool _adaptive;
    private int _successes;

    /// <summary>Creates a budget at its maximum.</summary>
    public AdaptiveBudget(int maxConcurrency, double maxMessagesPerMinute, bool adaptive, int recoverAfterSuccesses)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConcurrency, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(maxMessagesPerMinute);
        MaxConcurrency = maxConcurrency;
        MaxMessagesPerMinute = maxMessagesPerMinute;
        Concurrency = maxConcurrency;
        MessagesPerMinute = maxMessagesPerMinute;
        _adaptive = adaptive;
        _recoverAfter = Math.Max(1, recoverAfterSuccesses);
    }

    /// <summary>The configured concurrency.</summary>
    public int MaxConcurrency { get; }

    /// <summary>The configured rate; 0 means none.</summary>
    public double MaxMessagesPerMinute { get; }

    /// <summary>Concurrency allowed now.</summary>
    public int Concurrency { get; private set; }

    /// <summary>Rate allowed now; 0 means none.</summary>
    public double MessagesPerMinute { get; private set; }

    /// <summary>Slow-down replies since the budget was last at its maximum.</summary>
    public int Throttled { get; private set; }

    /// <summary>True when concurrency and rate are at their configured maximum.</summary>
    public bool AtMaximum => Concurrency == MaxConcurrency && MessagesPerMinute == MaxMessagesPerMinute;

    /// <summary>The site said to slow down.</summary>
    public void OnThrottled()
    {
        if (!_adaptive)
        {
            return;
        }

        Throttled++;
        _successes = 0;
        Concurrency = Math.Max(1, Concurrency / 2);
        if (MaxMessagesPerMinute > 0)
        {
            // Never below one a minute, so a site that throttled once is not starved for good.
            MessagesPerMinute = Math.Max(1, MessagesPerMinute / 2);
        }
    }

    /// <summary>The site answered normally.</summary>
    public void OnSuccess()
    {
        if (!_adaptive || AtMaximum || ++_successes < _recoverAfter)
        {
            return;
        }

        _successes = 0;
        Concurrency = Math.Min(MaxConcurrency, Concurrency + 1);
        if (MaxMessagesPerMinute > 0)
        {
            MessagesPerMinute = Math.Min(MaxMessagesPerMinute, MessagesPerMinute * 1.25);
        }

        if (AtMaximum)
        {
            Throttled = 0;
        }
    }
}
