using Elemta.Contracts;

namespace Elemta.Grains.Tests;

public sealed class DestinationShapingTests
{
    [Fact]
    public void A_slow_down_reply_halves_concurrency_and_rate_and_successes_restore_them_step_by_step()
    {
        var budget = new AdaptiveBudget(maxConcurrency: 20, maxMessagesPerMinute: 600, adaptive: true, recoverAfterSuccesses: 3);

        budget.OnThrottled();
        Assert.Equal(10, budget.Concurrency);
        Assert.Equal(300, budget.MessagesPerMinute);
        budget.OnThrottled();
        Assert.Equal(5, budget.Concurrency);
        Assert.Equal(2, budget.Throttled);

        budget.OnSuccess();
        budget.OnSuccess();
        Assert.Equal(5, budget.Concurrency);
        budget.OnSuccess();
        Assert.Equal(6, budget.Concurrency);
        Assert.Equal(187.5, budget.MessagesPerMinute);

        for (var i = 0; i < 3 * 40; i++)
        {
            budget.OnSuccess();
        }

        Assert.True(budget.AtMaximum);
        Assert.Equal(20, budget.Concurrency);
        Assert.Equal(600, budget.MessagesPerMinute);
        Assert.Equal(0, budget.Throttled);
    }

    [Fact]
    public void Concurrency_never_drops_below_one_and_a_fixed_budget_does_not_adapt()
    {
        var budget = new AdaptiveBudget(3, 0, adaptive: true, recoverAfterSuccesses: 1);
        for (var i = 0; i < 5; i++)
        {
            budget.OnThrottled();
        }

        Assert.Equal(1, budget.Concurrency);
        Assert.Equal(0, budget.MessagesPerMinute);

        var fixedBudget = new AdaptiveBudget(3, 60, adaptive: false, recoverAfterSuccesses: 1);
        fixedBudget.OnThrottled();
        Assert.Equal(3, fixedBudget.Concurrency);
        Assert.Equal(60, fixedBudget.MessagesPerMinute);
    }

    [Fact]
    public void Site_limits_match_an_MX_host_by_its_domain_a_route_or_fall_back_to_the_defaults()
    {
        var options = new DestinationOptions
        {
            MaxConcurrency = 20,
            MessagesPerMinute = 0,
            Sites =
            {
                ["google.com"] = new SiteLimits { MaxConcurrency = 5 },
                ["127.0.0.1:2525"] = new SiteLimits { MessagesPerMinute = 60 },
            },
        };

        Assert.Equal(5, options.LimitsFor("mx:alt1.aspmx.l.google.com,aspmx.l.google.com").MaxConcurrency);
        Assert.Equal(20, options.LimitsFor("mx:mx.notgoogle.com").MaxConcurrency);
        var route = options.LimitsFor("route:127.0.0.1:2525");
        Assert.Equal(60, route.MessagesPerMinute);
        Assert.Equal(20, route.MaxConcurrency);
        Assert.Equal(0, options.LimitsFor("domain:example.net").MessagesPerMinute);
    }

    [Theory]
    [InlineData("421 4.7.0 too many connections from your host", RecipientOutcome.Transient, DeliveryError.TemporaryReply, DestinationFeedback.Throttled)]
    [InlineData("451 4.7.1 rate limit exceeded, slow down", RecipientOutcome.Transient, DeliveryError.TemporaryReply, DestinationFeedback.Throttled)]
    [InlineData("450 4.2.1 mailbox busy", RecipientOutcome.Transient, DeliveryError.TemporaryReply, DestinationFeedback.Success)]
    [InlineData("550 5.1.1 no such user", RecipientOutcome.Permanent, DeliveryError.PermanentReply, DestinationFeedback.Success)]
    [InlineData("451 4.4.1 connection refused", RecipientOutcome.Transient, DeliveryError.Connect, DestinationFeedback.Unreachable)]
    [InlineData("250 2.0.0 ok", RecipientOutcome.Delivered, DeliveryError.None, DestinationFeedback.Success)]
    public void Replies_are_read_as_slow_down_unreachable_or_normal(string reply, RecipientOutcome outcome, DeliveryError error, DestinationFeedback expected)
    {
        var attempt = new DeliveryAttempt("mx", DateTimeOffset.UnixEpoch, [new RecipientResult("a@x", outcome, reply, error)]);
        Assert.Equal(expected, DestinationSites.FeedbackOf(attempt));
    }

    [Fact]
    public void Only_failures_of_the_whole_destination_count_for_the_circuit_breaker()
    {
        static DeliveryAttempt Attempt(params RecipientResult[] results) => new("mx", DateTimeOffset.UnixEpoch, [.. results]);
        Assert.True(DomainQueueGrain.IsDestinationFailure(Attempt(
            new RecipientResult("a@x", RecipientOutcome.Transient, "connect failed", DeliveryError.Connect),
            new RecipientResult("b@x", RecipientOutcome.Transient, "connect failed", DeliveryError.Connect))));
        Assert.True(DomainQueueGrain.IsDestinationFailure(Attempt(new RecipientResult("a@x", RecipientOutcome.Transient, "timeout", DeliveryError.Timeout))));
        Assert.False(DomainQueueGrain.IsDestinationFailure(Attempt(new RecipientResult("a@x", RecipientOutcome.Transient, "451 greylisted", DeliveryError.TemporaryReply))));
        Assert.False(DomainQueueGrain.IsDestinationFailure(Attempt(
            new RecipientResult("a@x", RecipientOutcome.Transient, "connect failed", DeliveryError.Connect),
            new RecipientResult("b@x", RecipientOutcome.Delivered, "250 ok"))));
        Assert.False(DomainQueueGrain.IsDestinationFailure(Attempt()));
    }
}
