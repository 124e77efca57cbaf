namespace Elemta.Contracts;

/// <summary>
/// One greylisting triplet (client network, envelope sender, recipient; RFC 6647), keyed
/// <c>&lt;network&gt;|&lt;sender&gt;|&lt;recipient&gt;</c> in lower case. One activation per triplet cluster-wide, its state
/// persisted, so a retry passes whichever silo it reaches and after a restart.
/// </summary>
[Alias("elemta.IGreylistGrain")]
public interface IGreylistGrain : IGrainWithStringKey
{
    /// <summary>
    /// Records an attempt of the triplet and says whether it may pass: a triplet passes once it retries after
    /// <paramref name="delay"/> and within <paramref name="retryWindow"/> of its first attempt, and then passes at once
    /// for <paramref name="passedLifetime"/> after its last passing attempt.
    /// </summary>
    [Alias("check")]
    Task<GreylistDecision> CheckAsync(TimeSpan delay, TimeSpan retryWindow, TimeSpan passedLifetime);
}

/// <summary>A greylisting answer.</summary>
/// <param name="Passed">Whether the attempt may go on.</param>
/// <param name="RetryAfter">When it may not: how long until a retry passes.</param>
[GenerateSerializer, Immutable, Alias("elemta.GreylistDecision")]
public sealed record GreylistDecision(
    [property: Id(0)] bool Passed,
    [property: Id(1)] TimeSpan RetryAfter);

/// <summary>The persisted state of a greylisting triplet.</summary>
[GenerateSerializer, Alias("elemta.GreylistState")]
public sealed class GreylistState
{
    /// <summary>The first attempt of the current round, or null before any.</summary>
    [Id(0)]
    public DateTimeOffset? FirstSeen { get; set; }

    /// <summary>The last attempt that passed, or null while the triplet has not passed.</summary>
    [Id(1)]
    public DateTimeOffset? LastPassed { get; set; }
}
