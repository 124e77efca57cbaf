namespace Elemta.Smtp.Tests;

/// <summary>
/// Upper bounds for every await in these tests, so a broken server fails a test instead of hanging the run.
/// They are bounds, never waits: a healthy server answers in milliseconds.
/// </summary>
internal static class TestTimeouts
{
    /// <summary>Generous, because the 2-core machine may be busy building other projects.</summary>
    public static readonly TimeSpan Reply = TimeSpan.FromSeconds(15);

    /// <summary>For an external client process (Python) from start to exit.</summary>
    public static readonly TimeSpan Process = TimeSpan.FromSeconds(60);

    public static CancellationToken Token() => Token(Reply);

    public static CancellationToken Token(TimeSpan timeout) => new CancellationTokenSource(timeout).Token;
}
