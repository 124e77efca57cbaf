using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Grains.Tests;

public sealed class RecipientOutcomesTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);

    private static readonly QueueOptions Options = new()
    {
        RetrySchedule = [TimeSpan.FromMinutes(5), TimeSpan.FromMinutes(10), TimeSpan.FromHours(1)],
        MaxQueueLifetime = TimeSpan.FromDays(5),
    };

    private static ImmutableArray<RecipientState> Recipients(params string[] addresses) =>
        [.. addresses.Select(a => new RecipientState(a, a[(a.IndexOf('@') + 1)..], RecipientStatus.Queued, 0, null, null, null))];

    private static DeliveryAttempt Attempt(params (string Address, RecipientOutcome Outcome, string Reply)[] results) =>
        new("mx.example.net[127.0.0.1]:25", T0, [.. results.Select(r => new RecipientResult(r.Address, r.Outcome, r.Reply))]);

    [Fact]
    public void Delivered_and_permanent_failures_are_final_and_temporary_ones_are_deferred_by_the_schedule()
    {
        var before = Recipients("a@example.net", "b@example.net", "c@example.net");
        var after = RecipientOutcomes.Apply(before, "example.net", Attempt(
            ("a@example.net", RecipientOutcome.Delivered, "250 ok"),
            ("b@example.net", RecipientOutcome.Permanent, "550 5.1.1 no such user"),
            ("c@example.net", RecipientOutcome.Transient, "451 4.3.0 try later")), T0, T0, Options);

        Assert.Equal(RecipientStatus.Delivered, after[0].Status);
        Assert.Equal(RecipientStatus.Failed, after[1].Status);
        Assert.Equal("550 5.1.1 no such user", after[1].LastReply);
        Assert.Equal(RecipientStatus.Deferred, after[2].Status);
        Assert.Equal(T0 + TimeSpan.FromMinutes(5), after[2].NextAttemptAt);
        Assert.All(after, r => Assert.Equal(1, r.Attempts));
    }

    [Fact]
    public void Each_retry_waits_the_next_interval_and_the_last_interval_repeats()
    {
        var recipients = Recipients("c@example.net");
        var expected = new[] { 5, 10, 60, 60 };
        var now = T0;
        foreach (var minutes in expected)
        {
            recipients = RecipientOutcomes.Apply(recipients, "example.net", Attempt(("c@example.net", RecipientOutcome.Transient, "421 busy")), T0, now, Options);
            Assert.Equal(now + TimeSpan.FromMinutes(minutes), recipients[0].NextAttemptAt);
            now = recipients[0].NextAttemptAt!.Value;
        }

        Assert.Equal(4, recipients[0].Attempts);
    }

    [Fact]
    public void A_temporary_failure_after_the_queue_lifetime_fails_the_recipient_as_expired()
    {
        var after = RecipientOutcomes.Apply(Recipients("c@example.net"), "example.net",
            Attempt(("c@example.net", RecipientOutcome.Transient, "451 4.4.1 connection refused")), T0, T0 + TimeSpan.FromDays(5), Options);

        Assert.Equal(RecipientStatus.Failed, after[0].Status);
        Assert.StartsWith("expired after 5.00:00:00 in queue; last reply: 451 4.4.1", after[0].LastReply, StringComparison.Ordinal);
        Assert.Null(after[0].NextAttemptAt);
    }

    [Fact]
    public void An_attempt_changes_only_recipients_of_its_domain_that_are_still_pending()
    {
        var before = Recipients("a@example.net", "z@example.org");
        before = before.SetItem(0, before[0] with { Status = RecipientStatus.Delivered, Attempts = 1 });
        var after = RecipientOutcomes.Apply(before, "example.net", Attempt(
            ("a@example.net", RecipientOutcome.Permanent, "550 late"),
            ("z@example.org", RecipientOutcome.Delivered, "250 wrong domain")), T0, T0, Options);

        Assert.Same(before[0], after[0]);
        Assert.Same(before[1], after[1]);
    }

    [Fact]
    public void Queue_state_is_final_when_all_are_final_deferred_when_all_wait_and_active_otherwise()
    {
        var delivered = new RecipientState("a@x", "x", RecipientStatus.Delivered, 1, "250", T0, null);
        var failed = new RecipientState("c@x", "x", RecipientStatus.Failed, 1, "550", T0, null);
        var waiting = new RecipientState("b@x", "x", RecipientStatus.Deferred, 1, "451", T0, T0 + TimeSpan.FromMinutes(5));
        Assert.Equal(MessageQueueState.Delivered, RecipientOutcomes.QueueState([delivered], T0));
        Assert.Equal(MessageQueueState.Failed, RecipientOutcomes.QueueState([delivered, failed], T0));
        Assert.Equal(MessageQueueState.Deferred, RecipientOutcomes.StoredState([delivered, waiting]));
        Assert.Equal(MessageQueueState.Failed, RecipientOutcomes.StoredState([failed]));
        Assert.Equal(MessageQueueState.Deferred, RecipientOutcomes.QueueState([delivered, waiting], T0));
        Assert.Equal(MessageQueueState.Active, RecipientOutcomes.QueueState([delivered, waiting], T0 + TimeSpan.FromMinutes(5)));
    }

    [Fact]
    public void An_empty_schedule_means_the_Postfix_like_default()
    {
        var options = new QueueOptions();
        Assert.Equal(TimeSpan.FromMinutes(5), options.RetryDelay(1));
        Assert.Equal(TimeSpan.FromHours(1), options.RetryDelay(50));
    }

    [Fact]
    public void The_domain_of_an_address_is_its_lower_case_part_after_the_last_at()
    {
        Assert.Equal("example.net", MessageEnvelope.DomainOf("\"a@b\"@Example.NET."));
    }

    [Fact]
    public void Retry_jitter_stays_within_its_band_and_half_is_the_exact_interval()
    {
        var options = new QueueOptions { RetrySchedule = [TimeSpan.FromMinutes(10)], RetryJitter = 0.2 };
        Assert.Equal(TimeSpan.FromMinutes(10), options.RetryDelay(1, 0.5));
        Assert.Equal(TimeSpan.FromMinutes(8), options.RetryDelay(1, 0.0));
        Assert.Equal(TimeSpan.FromMinutes(12), options.RetryDelay(1, 1.0));
        var random = new Random(42);
        for (var i = 0; i < 1000; i++)
        {
            var delay = options.RetryDelay(3, random.NextDouble());
            Assert.InRange(delay, TimeSpan.FromMinutes(8), TimeSpan.FromMinutes(12));
        }
    }

    [Fact]
    public void Jitter_moves_the_next_attempt_of_a_deferred_recipient()
    {
        var options = new QueueOptions { RetrySchedule = [TimeSpan.FromMinutes(10)], RetryJitter = 0.1 };
        ImmutableArray<RecipientState> recipients = [new RecipientState("a@x", "x", RecipientStatus.Queued, 0, null, null, null)];
        var attempt = new DeliveryAttempt("mx[192.0.2.1]:25", T0, [new RecipientResult("a@x", RecipientOutcome.Transient, "451 4.3.0 later")]);
        var early = RecipientOutcomes.Apply(recipients, "x", attempt, T0, T0, options, 0.0);
        var late = RecipientOutcomes.Apply(recipients, "x", attempt, T0, T0, options, 1.0);
        Assert.Equal(T0 + TimeSpan.FromMinutes(9), early[0].NextAttemptAt);
        Assert.Equal(T0 + TimeSpan.FromMinutes(11), late[0].NextAttemptAt);
        Assert.Equal("mx[192.0.2.1]:25", early[0].RemoteHost);
    }
}
