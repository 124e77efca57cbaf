namespace Elemta.Testing.Tests;

/// <summary>Upper bounds for awaits in tests, so a broken peer fails a test instead of hanging the run.</summary>
internal static class TestTimeouts
{
    /// <summary>Generous: only reached when something is broken (the machine may be busy building).</summary>
    public static readonly TimeSpan Long = TimeSpan.FromSeconds(15);

    public static CancellationToken Token() => new CancellationTokenSource(Long).Token;
}
