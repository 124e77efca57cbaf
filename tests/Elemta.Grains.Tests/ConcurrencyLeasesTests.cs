using Microsoft.Extensions.Time.Testing;

namespace Elemta.Grains.Tests;

/// <summary>The concurrency count behind <c>RateLimitGrain.TryEnterAsync</c>: leases that holders renew or lose.</summary>
public sealed class ConcurrencyLeasesTests
{
    private static readonly TimeSpan Duration = TimeSpan.FromMinutes(2);

    [Fact]
    public void Up_to_max_leases_are_granted_and_an_exit_makes_room_for_one_more()
    {
        var leases = new ConcurrencyLeases(new FakeTimeProvider());
        var (a, b, c) = (Guid.NewGuid(), Guid.NewGuid(), Guid.NewGuid());

        Assert.True(leases.TryEnter(a, 2, Duration));
        Assert.True(leases.TryEnter(b, 2, Duration));
        Assert.False(leases.TryEnter(c, 2, Duration));
        Assert.Equal(2, leases.Count);

        Assert.True(leases.Exit(a));
        Assert.Equal(1, leases.Count);
        Assert.True(leases.TryEnter(c, 2, Duration));
        Assert.False(leases.TryEnter(a, 2, Duration));
    }

    [Fact]
    public void Entering_again_with_a_held_lease_counts_once_and_succeeds_even_at_the_limit()
    {
        var leases = new ConcurrencyLeases(new FakeTimeProvider());
        var a = Guid.NewGuid();

        Assert.True(leases.TryEnter(a, 1, Duration));
        Assert.True(leases.TryEnter(a, 1, Duration)); // a retried call
        Assert.Equal(1, leases.Count);
        Assert.False(leases.TryEnter(Guid.NewGuid(), 1, Duration));
    }

    [Fact]
    public void Exiting_a_lease_that_is_not_held_changes_nothing()
    {
        var leases = new ConcurrencyLeases(new FakeTimeProvider());
        var a = Guid.NewGuid();
        Assert.True(leases.TryEnter(a, 1, Duration));

        Assert.False(leases.Exit(Guid.NewGuid()));
        Assert.True(leases.Exit(a));
        Assert.False(leases.Exit(a));
        Assert.Equal(0, leases.Count);
    }

    [Fact]
    public void A_lease_nobody_renews_stops_counting_when_it_expires()
    {
        // The holder's process crashed: no exit, no renewal.
        var time = new FakeTimeProvider();
        var leases = new ConcurrencyLeases(time);
        Assert.True(leases.TryEnter(Guid.NewGuid(), 1, Duration));

        time.Advance(Duration - TimeSpan.FromMilliseconds(1));
        Assert.False(leases.TryEnter(Guid.NewGuid(), 1, Duration));
        Assert.Equal(1, leases.Count);

        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(0, leases.Count);
        Assert.True(leases.TryEnter(Guid.NewGuid(), 1, Duration));
    }

    [Fact]
    public void A_renewed_lease_outlives_its_first_duration()
    {
        var time = new FakeTimeProvider();
        var leases = new ConcurrencyLeases(time);
        var a = Guid.NewGuid();
        Assert.True(leases.TryEnter(a, 1, Duration));

        for (var i = 0; i < 10; i++)
        {
            time.Advance(Duration / 3);
            Assert.True(leases.Renew(a, Duration));
        }

        Assert.False(leases.TryEnter(Guid.NewGuid(), 1, Duration));
        time.Advance(Duration);
        Assert.True(leases.TryEnter(Guid.NewGuid(), 1, Duration));
    }

    [Fact]
    public void Renewing_a_lost_lease_takes_it_back_even_over_the_limit_and_says_it_was_lost()
    {
        // As after the grain's silo crashed: the new activation starts empty and other holders filled it.
        var leases = new ConcurrencyLeases(new FakeTimeProvider());
        Assert.True(leases.TryEnter(Guid.NewGuid(), 1, Duration));

        var survivor = Guid.NewGuid();
        Assert.False(leases.Renew(survivor, Duration));
        Assert.Equal(2, leases.Count);
        Assert.True(leases.Renew(survivor, Duration));
        Assert.False(leases.TryEnter(Guid.NewGuid(), 2, Duration));
    }

    [Fact]
    public void Expired_leases_are_dropped_while_live_ones_keep_counting()
    {
        var time = new FakeTimeProvider();
        var leases = new ConcurrencyLeases(time);
        var shortLived = Guid.NewGuid();
        var renewed = Guid.NewGuid();
        Assert.True(leases.TryEnter(shortLived, 3, TimeSpan.FromSeconds(10)));
        Assert.True(leases.TryEnter(renewed, 3, TimeSpan.FromSeconds(10)));
        Assert.True(leases.TryEnter(Guid.NewGuid(), 3, Duration));

        time.Advance(TimeSpan.FromSeconds(5));
        Assert.True(leases.Renew(renewed, TimeSpan.FromSeconds(10)));
        time.Advance(TimeSpan.FromSeconds(6));

        Assert.Equal(2, leases.Count);
        Assert.True(leases.TryEnter(Guid.NewGuid(), 3, Duration));
        Assert.False(leases.TryEnter(Guid.NewGuid(), 3, Duration));
        Assert.False(leases.Renew(shortLived, Duration)); // it had expired
    }

    [Fact]
    public void A_limit_below_one_or_a_non_positive_duration_is_a_caller_error()
    {
        var leases = new ConcurrencyLeases(new FakeTimeProvider());
        Assert.Throws<ArgumentOutOfRangeException>(() => leases.TryEnter(Guid.NewGuid(), 0, Duration));
        Assert.Throws<ArgumentOutOfRangeException>(() => leases.TryEnter(Guid.NewGuid(), 1, TimeSpan.Zero));
        Assert.Equal(0, leases.Count);
    }
}
