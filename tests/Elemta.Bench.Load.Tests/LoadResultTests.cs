namespace Elemta.Bench.Load.Tests;

/// <summary>Percentiles and counts computed from the per-message latency samples.</summary>
public sealed class LoadResultTests
{
    [Fact]
    public void PercentilesAreNearestRankOverTheAcceptedMessagesOnly()
    {
        // 100 accepted messages with latencies 1..100 ms (frequency 1000 ticks/s) and 3 that were never accepted.
        var samples = Enumerable.Range(1, 100).Select(i => (long)i).Reverse().Concat([-1L, -1L, -1L]).ToArray();

        var result = LoadResult.From(103, samples, 1000, 3, [], TimeSpan.FromSeconds(2));

        Assert.Equal((100, 3, 3), (result.Sent, result.Failed, result.Errors));
        Assert.Equal((50.0, 90.0, 99.0, 100.0), (result.LatencyP50Ms, result.LatencyP90Ms, result.LatencyP99Ms, result.LatencyMaxMs));
        Assert.Equal(50.0, result.MessagesPerSecond);
    }

    [Fact]
    public void ASingleSampleIsEveryPercentile()
    {
        var result = LoadResult.From(1, [2_500], 1_000_000, 0, [], TimeSpan.FromSeconds(1));

        Assert.Equal((2.5, 2.5, 2.5, 2.5), (result.LatencyP50Ms, result.LatencyP90Ms, result.LatencyP99Ms, result.LatencyMaxMs));
    }

    [Fact]
    public void NoAcceptedMessageGivesZeroesNotAnError()
    {
        var result = LoadResult.From(2, [-1, -1], 1000, 2, ["x", "y"], TimeSpan.FromSeconds(1));

        Assert.Equal((0, 2, 0.0, 0.0), (result.Sent, result.Failed, result.LatencyP99Ms, result.MessagesPerSecond));
    }
}
