using Microsoft.Extensions.Time.Testing;

namespace Elemta.Grains.Tests;

public sealed class TokenBucketTests
{
    [Fact]
    public void A_full_bucket_allows_its_capacity_then_refuses_until_time_refills_it()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(new TokenBucketOptions { Capacity = 3, PerSecond = 1 }, time);

        Assert.True(bucket.TryTake(1).Allowed);
        Assert.True(bucket.TryTake(1).Allowed);
        Assert.True(bucket.TryTake(1).Allowed);
        var refused = bucket.TryTake(1);
        Assert.False(refused.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(1), refused.RetryAfter);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.True(bucket.TryTake(1).Allowed);
        Assert.False(bucket.TryTake(1).Allowed);
    }

    [Fact]
    public void Peek_tells_whether_tokens_are_there_without_taking_any()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(new TokenBucketOptions { Capacity = 2, PerSecond = 1.0 / 30 }, time);

        Assert.True(bucket.Peek(1).Allowed);
        Assert.True(bucket.Peek(1).Allowed);
        Assert.True(bucket.TryTake(1).Allowed);
        Assert.True(bucket.TryTake(1).Allowed);
        var locked = bucket.Peek(1);
        Assert.False(locked.Allowed);
        Assert.Equal(TimeSpan.FromSeconds(30), locked.RetryAfter);

        time.Advance(TimeSpan.FromSeconds(30));
        Assert.True(bucket.Peek(1).Allowed);
    }

    [Theory]
    [InlineData("connect:192.0.2.1", 200)]
    [InlineData("auth-fail-ip:192.0.2.1", 10)]
    [InlineData("auth-fail-user:alice", 5)]
    public void Each_key_prefix_has_its_own_bucket(string key, double capacity)
    {
        Assert.Equal(capacity, new RateLimitOptions().BucketFor(key)!.Capacity);
        Assert.Null(new RateLimitOptions().BucketFor("connections:total"));
    }

    [Fact]
    public void Refill_never_exceeds_the_capacity()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(new TokenBucketOptions { Capacity = 2, PerSecond = 100 }, time);
        time.Advance(TimeSpan.FromHours(1));
        Assert.True(bucket.TryTake(2).Allowed);
        Assert.False(bucket.TryTake(1).Allowed);
    }

    [Fact]
    public void A_bucket_without_refill_never_allows_again()
    {
        var time = new FakeTimeProvider();
        var bucket = new TokenBucket(new TokenBucketOptions { Capacity = 1, PerSecond = 0 }, time);
        Assert.True(bucket.TryTake(1).Allowed);
        time.Advance(TimeSpan.FromDays(1));
        var refused = bucket.TryTake(1);
        Assert.False(refused.Allowed);
        Assert.Equal(TimeSpan.MaxValue, refused.RetryAfter);
    }
}
