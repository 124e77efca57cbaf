using Elemta.Contracts;

namespace Elemta.Storage.Tests;

/// <summary>Queue states, priorities, operator actions, counters and retention queries on a real database.</summary>
public abstract class QueueOperationsTests : IAsyncLifetime
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 24, 12, 0, 0, TimeSpan.Zero);
    private IStoreFixture _temp = null!;
    private IMessageStore _messages = null!;
    private IQueueStore _queue = null!;
    private IQueueOperations _operations = null!;

    /// <summary>A fresh, migrated database of the provider under test.</summary>
    protected abstract Task<IStoreFixture> CreateStoreAsync();

    public async Task InitializeAsync()
    {
        _temp = await CreateStoreAsync();
        _messages = _temp.Messages;
        _queue = _temp.Queue;
        _operations = _temp.Operations;
    }

    public async Task DisposeAsync() => await _temp.DisposeAsync();

    private Task AcceptAsync(string id, DateTimeOffset receivedAt, MessagePriority priority = MessagePriority.Normal, params string[] recipients) =>
        _messages.AcceptAsync(
            new MessageEnvelope(id, "sender@origin.test", recipients.Length == 0 ? ["rcpt@example.net"] : [.. recipients], receivedAt, "192.0.2.1", "client", 5, priority),
            "Subject: x\r\n\r\nbody\r\n"u8.ToArray(),
            CancellationToken.None);

    private async Task<long> CountInStateAsync(MessageQueueState state) =>
        (await _operations.GetStatisticsAsync(T0, 10, CancellationToken.None)).Messages[state];

    [Fact]
    public async Task A_message_accepted_held_is_never_due_is_counted_held_and_is_due_once_released()
    {
        await _messages.AcceptAsync(
            new MessageEnvelope("quarantined", "sender@origin.test", ["a@example.net", "b@example.org"], T0.AddMinutes(-1), "192.0.2.1", "client", 5, MessagePriority.Normal, HoldReason: "spam score 12"),
            "Subject: x\r\n\r\nbody\r\n"u8.ToArray(),
            CancellationToken.None);

        Assert.Empty(await _queue.GetDueAsync("example.net", T0, 10, CancellationToken.None));
        Assert.Empty(await _queue.GetDueAsync("example.org", T0, 10, CancellationToken.None));
        Assert.True((await _queue.GetPositionAsync("example.net", "quarantined", CancellationToken.None))!.Held);
        Assert.Equal(1, await CountInStateAsync(MessageQueueState.Held));
        Assert.Equal(0, await CountInStateAsync(MessageQueueState.Active));
        Assert.Equal("spam score 12", (await _messages.ReadEnvelopeAsync("quarantined", CancellationToken.None))!.HoldReason);

        await _operations.ApplyAsync(QueueScope.Message("quarantined"), QueueAction.Release, T0, CancellationToken.None);
        Assert.Equal(["quarantined"], (await _queue.GetDueAsync("example.net", T0, 10, CancellationToken.None)).Select(e => e.MessageId));
        Assert.Equal(["quarantined"], (await _queue.GetDueAsync("example.org", T0, 10, CancellationToken.None)).Select(e => e.MessageId));
        Assert.Equal(0, await CountInStateAsync(MessageQueueState.Held));
    }

    [Fact]
    public async Task A_higher_priority_entry_overtakes_older_lower_priority_ones_in_the_same_domain()
    {
        await AcceptAsync("bulk", T0.AddMinutes(-30), MessagePriority.Bulk);
        await AcceptAsync("normal-old", T0.AddMinutes(-20));
        await AcceptAsync("normal-new", T0.AddMinutes(-10));
        await AcceptAsync("critical", T0.AddMinutes(-1), MessagePriority.Critical);

        var due = await _queue.GetDueAsync("example.net", T0, 10, CancellationToken.None);
        Assert.Equal(["critical", "normal-old", "normal-new", "bulk"], due.Select(e => e.MessageId));

        var two = await _queue.GetDueAsync("example.net", T0, 2, CancellationToken.None);
        Assert.Equal(["critical", "normal-old"], two.Select(e => e.MessageId));
    }

    [Fact]
    public async Task Entries_not_yet_due_do_not_block_due_entries_of_a_lower_priority()
    {
        await AcceptAsync("high-later", T0.AddMinutes(5), MessagePriority.High);
        await AcceptAsync("low-now", T0.AddMinutes(-5), MessagePriority.Low);

        var due = await _queue.GetDueAsync("example.net", T0, 10, CancellationToken.None);

        Assert.Equal(["low-now"], due.Select(e => e.MessageId));
    }

    [Fact]
    public async Task A_held_message_is_never_due_and_release_makes_it_due_now()
    {
        await AcceptAsync("m1", T0.AddMinutes(-5), recipients: ["a@example.net", "b@other.test"]);
        await AcceptAsync("m2", T0.AddMinutes(-5));

        var hold = await _operations.ApplyAsync(QueueScope.Message("m1"), QueueAction.Hold, T0, CancellationToken.None);

        Assert.Equal(1, hold.Messages);
        Assert.Equal(2, hold.Entries);
        Assert.Equal(["m2"], (await _queue.GetDueAsync("example.net", T0, 10, CancellationToken.None)).Select(e => e.MessageId));
        Assert.Empty(await _queue.GetDueAsync("other.test", T0.AddYears(1), 10, CancellationToken.None));
        Assert.Null(await _queue.GetNextDueAsync("other.test", CancellationToken.None));
        Assert.DoesNotContain("other.test", await _queue.GetDomainsDueAsync(DateTimeOffset.MaxValue, 10, CancellationToken.None));
        Assert.Equal(1, await CountInStateAsync(MessageQueueState.Held));
        Assert.Equal(new DomainCount("other.test", 1, 1), await _queue.GetDomainCountAsync("other.test", CancellationToken.None));
        Assert.True((await _queue.GetPositionAsync("other.test", "m1", CancellationToken.None))!.Held);

        var release = await _operations.ApplyAsync(QueueScope.Message("m1"), QueueAction.Release, T0.AddMinutes(1), CancellationToken.None);

        Assert.Equal(2, release.Entries);
        Assert.Equal(["example.net", "other.test"], release.Domains.Order());
        Assert.Equal(0, await CountInStateAsync(MessageQueueState.Held));
        Assert.Equal(2, await CountInStateAsync(MessageQueueState.Active));
        Assert.Single(await _queue.GetDueAsync("other.test", T0.AddMinutes(1), 10, CancellationToken.None));
        Assert.Equal(new DomainCount("other.test", 1, 0), await _queue.GetDomainCountAsync("other.test", CancellationToken.None));
    }

    [Fact]
    public async Task Holding_a_domain_holds_only_its_entries_and_marks_their_messages_held()
    {
        await AcceptAsync("m1", T0, recipients: ["a@example.net", "b@other.test"]);
        await AcceptAsync("m2", T0, recipients: ["c@other.test"]);

        var hold = await _operations.ApplyAsync(QueueScope.OfDomain("example.net"), QueueAction.Hold, T0, CancellationToken.None);

        Assert.Equal(1, hold.Entries);
        Assert.Equal(1, await CountInStateAsync(MessageQueueState.Held));
        Assert.Equal(2, (await _queue.GetDueAsync("other.test", T0, 10, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task Retry_now_of_every_deferred_message_makes_them_due_and_active()
    {
        await AcceptAsync("d1", T0.AddHours(-1));
        await AcceptAsync("d2", T0.AddHours(-1), recipients: ["x@other.test"]);
        await AcceptAsync("a1", T0);
        await _queue.RecordOutcomeAsync(new QueueOutcome("d1", "example.net", T0.AddHours(1), MessageQueueState.Deferred, T0, Deferred: 1), CancellationToken.None);
        await _queue.RecordOutcomeAsync(new QueueOutcome("d2", "other.test", T0.AddHours(1), MessageQueueState.Deferred, T0, Deferred: 1), CancellationToken.None);
        Assert.Equal(2, await CountInStateAsync(MessageQueueState.Deferred));

        var change = await _operations.ApplyAsync(QueueScope.InState(MessageQueueState.Deferred), QueueAction.RetryNow, T0, CancellationToken.None);

        Assert.Equal(2, change.Messages);
        Assert.Equal(2, change.Entries);
        Assert.Equal(["example.net", "other.test"], change.Domains.Order());
        Assert.Equal(0, await CountInStateAsync(MessageQueueState.Deferred));
        Assert.Equal(3, await CountInStateAsync(MessageQueueState.Active));
        Assert.Equal(2, (await _queue.GetDueAsync("example.net", T0, 10, CancellationToken.None)).Count);
    }

    [Fact]
    public async Task An_attempt_on_a_held_message_keeps_it_held()
    {
        await AcceptAsync("m1", T0);
        await _operations.ApplyAsync(QueueScope.Message("m1"), QueueAction.Hold, T0, CancellationToken.None);

        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "example.net", T0.AddMinutes(5), MessageQueueState.Deferred, T0, Deferred: 1), CancellationToken.None);

        Assert.Equal(1, await CountInStateAsync(MessageQueueState.Held));
        Assert.True((await _queue.GetPositionAsync("example.net", "m1", CancellationToken.None))!.Held);
    }

    [Fact]
    public async Task A_final_outcome_removes_the_entry_deletes_the_content_and_counts_the_recipients()
    {
        await AcceptAsync("m1", T0, recipients: ["a@example.net", "b@example.net", "c@other.test"]);

        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "example.net", null, MessageQueueState.Deferred, T0, Delivered: 1, Failed: 1), CancellationToken.None);
        Assert.NotNull(await _messages.ReadContentAsync("m1", CancellationToken.None));
        Assert.Equal(1, await _queue.CountAsync("other.test", CancellationToken.None));
        Assert.Equal(0, await _queue.CountAsync("example.net", CancellationToken.None));

        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "other.test", null, MessageQueueState.Failed, T0.AddSeconds(30), Failed: 1), CancellationToken.None);

        Assert.Null(await _messages.ReadContentAsync("m1", CancellationToken.None));
        var stats = await _operations.GetStatisticsAsync(T0.AddSeconds(30), 10, CancellationToken.None);
        Assert.Equal(1, stats.Messages[MessageQueueState.Failed]);
        Assert.Equal(0, stats.Messages[MessageQueueState.Active]);
        Assert.Equal(new OutcomeCounts(1, 0, 2), stats.LastMinute);
        Assert.Equal(new OutcomeCounts(1, 0, 2), stats.LastHour);
        Assert.Null(stats.OldestPendingReceivedAt);
        Assert.Empty(stats.Domains);
    }

    [Fact]
    public async Task Outcomes_per_minute_are_the_counters_of_each_minute_oldest_first()
    {
        await AcceptAsync("m1", T0.AddMinutes(-10), recipients: ["a@example.net", "b@other.test"]);
        await AcceptAsync("m2", T0.AddMinutes(-10), recipients: ["c@example.net"]);
        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "example.net", null, MessageQueueState.Deferred, T0.AddMinutes(-3), Delivered: 1), CancellationToken.None);
        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "other.test", T0.AddHours(1), MessageQueueState.Deferred, T0.AddMinutes(-3).AddSeconds(20), Deferred: 1), CancellationToken.None);
        await _queue.RecordOutcomeAsync(new QueueOutcome("m2", "example.net", null, MessageQueueState.Failed, T0.AddSeconds(5), Failed: 1), CancellationToken.None);

        var rows = await _operations.GetOutcomesPerMinuteAsync(T0.AddSeconds(30), 60, CancellationToken.None);
        Assert.Equal(
            [new MinuteOutcomes(T0.AddMinutes(-3), new OutcomeCounts(1, 1, 0)), new MinuteOutcomes(T0, new OutcomeCounts(0, 0, 1))],
            rows);

        // A window of two minutes ends at the current one and starts at the one before.
        Assert.Equal([new MinuteOutcomes(T0, new OutcomeCounts(0, 0, 1))], await _operations.GetOutcomesPerMinuteAsync(T0.AddSeconds(30), 2, CancellationToken.None));
    }

    [Fact]
    public async Task Statistics_name_the_oldest_pending_message_and_the_busiest_domains()
    {
        await AcceptAsync("old", T0.AddDays(-2), recipients: ["a@big.test"]);
        await AcceptAsync("m2", T0.AddHours(-1), recipients: ["b@big.test", "c@small.test"]);
        await AcceptAsync("m3", T0, recipients: ["d@big.test"]);
        await _queue.RecordOutcomeAsync(new QueueOutcome("old", "big.test", T0.AddHours(1), MessageQueueState.Deferred, T0, Deferred: 1), CancellationToken.None);

        var stats = await _operations.GetStatisticsAsync(T0.AddMinutes(30), 1, CancellationToken.None);

        Assert.Equal(T0.AddDays(-2), stats.OldestPendingReceivedAt);
        Assert.Equal(new DomainCount("big.test", 3, 0), Assert.Single(stats.Domains));
        Assert.Equal(2, stats.Messages[MessageQueueState.Active]);
        Assert.Equal(1, stats.Messages[MessageQueueState.Deferred]);
        Assert.Equal(new OutcomeCounts(0, 0, 0), stats.LastMinute);
        Assert.Equal(new OutcomeCounts(0, 1, 0), stats.LastHour);
    }

    [Fact]
    public async Task Priority_changes_move_a_message_ahead_in_its_queue()
    {
        await AcceptAsync("first", T0.AddMinutes(-2));
        await AcceptAsync("second", T0.AddMinutes(-1));
        Assert.Equal(1, (await _queue.GetPositionAsync("example.net", "second", CancellationToken.None))!.Position);

        var change = await _operations.SetPriorityAsync(QueueScope.Message("second"), (int)MessagePriority.High, T0, CancellationToken.None);

        Assert.Equal(1, change.Entries);
        Assert.Equal(0, (await _queue.GetPositionAsync("example.net", "second", CancellationToken.None))!.Position);
        Assert.Equal("second", (await _queue.GetDueAsync("example.net", T0, 1, CancellationToken.None))[0].MessageId);
        var listed = Assert.Single(await _operations.ListAsync(MessageQueueState.Active, T0.AddMinutes(-1).AddMilliseconds(-1), 10, CancellationToken.None));
        Assert.Equal(MessagePriority.High, listed.Priority);
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task Keyset_pages_list_messages_of_one_millisecond_once_each_in_either_order(bool newest)
    {
        // 25 messages in 5 distinct milliseconds: a page boundary inside a millisecond must neither skip nor repeat.
        var ids = Enumerable.Range(0, 25).Select(i => $"m{i:D2}").ToList();
        foreach (var (id, i) in ids.Select((id, i) => (id, i)))
        {
            await AcceptAsync(id, T0.AddMilliseconds(i % 5), recipients: [i % 2 == 0 ? "rcpt@even.test" : "rcpt@odd.test"]);
        }

        var listed = new List<QueuedMessage>();
        QueueListQuery? query = new(MessageQueueState.Active, 4, newest);
        while (query is not null)
        {
            var page = await _operations.ListPageAsync(query, CancellationToken.None);
            listed.AddRange(page);
            query = page.Count < 4 ? null : query with { AfterReceivedAt = page[^1].ReceivedAt, AfterMessageId = page[^1].MessageId };
        }

        var expected = ids.Select((id, i) => (At: T0.AddMilliseconds(i % 5), Id: id)).Order().ToList();
        if (newest)
        {
            expected.Reverse();
        }

        Assert.Equal(expected.Select(e => e.Id), listed.Select(m => m.MessageId));
        Assert.Equal(13, (await _operations.ListPageAsync(new QueueListQuery(MessageQueueState.Active, 100, Domain: "even.test"), CancellationToken.None)).Count);
        Assert.Equal(25, (await _operations.ListPageAsync(new QueueListQuery(MessageQueueState.Active, 100, Sender: "sender@origin.test"), CancellationToken.None)).Count);
        Assert.Empty(await _operations.ListPageAsync(new QueueListQuery(MessageQueueState.Active, 100, Sender: "' OR '1'='1"), CancellationToken.None));
        Assert.Empty(await _operations.ListPageAsync(new QueueListQuery(MessageQueueState.Deferred, 100), CancellationToken.None));
    }

    [Fact]
    public async Task Keyset_pages_by_priority_list_each_message_once_most_urgent_first_then_oldest()
    {
        // 30 messages over 5 priorities and 3 milliseconds: boundaries fall inside a priority and inside a millisecond.
        var priorities = Enum.GetValues<MessagePriority>();
        var expected = new List<(int Priority, DateTimeOffset At, string Id)>();
        for (var i = 0; i < 30; i++)
        {
            var priority = priorities[i % priorities.Length];
            var id = $"p{i:D2}";
            await AcceptAsync(id, T0.AddMilliseconds(i % 3), priority);
            expected.Add(((int)priority, T0.AddMilliseconds(i % 3), id));
        }

        var listed = new List<QueuedMessage>();
        QueueListQuery? query = new(MessageQueueState.Active, 4, ByPriority: true);
        while (query is not null)
        {
            var page = await _operations.ListPageAsync(query, CancellationToken.None);
            listed.AddRange(page);
            query = page.Count < 4 ? null : query with { AfterReceivedAt = page[^1].ReceivedAt, AfterMessageId = page[^1].MessageId, AfterPriority = page[^1].Priority };
        }

        Assert.Equal(expected.Order().Select(e => e.Id), listed.Select(m => m.MessageId));
    }

    [Fact]
    public async Task The_recipient_filter_matches_an_envelope_recipient_in_any_case_and_nothing_else()
    {
        await AcceptAsync("to-ann", T0, recipients: ["Ann@Example.net", "bob@example.net"]);
        await AcceptAsync("to-bob", T0.AddMilliseconds(1), recipients: ["bob@example.net"]);
        await AcceptAsync("to-annette", T0.AddMilliseconds(2), recipients: ["annette@example.net"]);

        async Task<IEnumerable<string>> ListAsync(string recipient, bool byPriority = false) =>
            (await _operations.ListPageAsync(new QueueListQuery(MessageQueueState.Active, 100, ByPriority: byPriority, Recipient: recipient), CancellationToken.None)).Select(m => m.MessageId);

        Assert.Equal(["to-ann"], await ListAsync("ann@example.net"));
        Assert.Equal(["to-ann"], await ListAsync("ANN@EXAMPLE.NET", byPriority: true));
        Assert.Equal(["to-ann", "to-bob"], await ListAsync("bob@example.net"));
        Assert.Empty(await ListAsync("sender@origin.test"));
        Assert.Empty(await ListAsync("%@example.net"));
        Assert.Empty(await ListAsync("' OR '1'='1"));
    }

    [Fact]
    public async Task Counts_per_priority_follow_acceptance_priority_changes_holds_and_deletes()
    {
        await AcceptAsync("c1", T0, MessagePriority.Critical);
        await AcceptAsync("c2", T0, MessagePriority.Critical);
        await AcceptAsync("b1", T0, MessagePriority.Bulk);
        await _operations.SetPriorityAsync(QueueScope.Message("c2"), (int)MessagePriority.Low, T0, CancellationToken.None);
        await _operations.ApplyAsync(QueueScope.Message("b1"), QueueAction.Hold, T0, CancellationToken.None);
        await AcceptAsync("gone", T0, MessagePriority.High);
        await _operations.DeleteMessageAsync("gone", CancellationToken.None);

        var stats = await _operations.GetStatisticsAsync(T0, 10, CancellationToken.None);

        Assert.Equal(
            [
                new PriorityCount(MessagePriority.Critical, MessageQueueState.Active, 1),
                new PriorityCount(MessagePriority.Low, MessageQueueState.Active, 1),
                new PriorityCount(MessagePriority.Bulk, MessageQueueState.Held, 1),
            ],
            stats.ByPriority.ToArray());
    }

    [Fact]
    public async Task Deleting_a_message_removes_every_trace_and_keeps_the_counters_true()
    {
        await AcceptAsync("m1", T0, recipients: ["a@example.net", "b@other.test"]);
        await _operations.ApplyAsync(QueueScope.Message("m1"), QueueAction.Hold, T0, CancellationToken.None);

        await _operations.DeleteMessageAsync("m1", CancellationToken.None);

        Assert.Equal(0, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue"));
        Assert.Equal(0, _temp.Scalar("SELECT COUNT(*) FROM elemta_message"));
        Assert.Null(await _messages.ReadContentAsync("m1", CancellationToken.None));
        Assert.Equal(0, _temp.Scalar("SELECT SUM(count) FROM elemta_priority_count"));
        Assert.Equal(new DomainCount("other.test", 0, 0), await _queue.GetDomainCountAsync("other.test", CancellationToken.None));
    }

    [Fact]
    public async Task Reschedule_never_recreates_a_deleted_entry()
    {
        await AcceptAsync("m1", T0);
        await _operations.DeleteMessageAsync("m1", CancellationToken.None);

        await _queue.RescheduleAsync("example.net", "m1", T0.AddMinutes(5), CancellationToken.None);
        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "example.net", T0.AddMinutes(5), MessageQueueState.Deferred, T0), CancellationToken.None);

        Assert.Equal(0, _temp.Scalar("SELECT COUNT(*) FROM elemta_queue"));
        Assert.Equal(0, _temp.Scalar("SELECT COUNT(*) FROM elemta_message"));
    }

    [Fact]
    public async Task Finished_messages_are_found_for_retention_only_after_their_period()
    {
        await AcceptAsync("done", T0.AddDays(-3));
        await AcceptAsync("recent", T0.AddHours(-1));
        await AcceptAsync("pending", T0.AddDays(-3), recipients: ["x@other.test"]);
        await _queue.RecordOutcomeAsync(new QueueOutcome("done", "example.net", null, MessageQueueState.Delivered, T0.AddDays(-2), Delivered: 1), CancellationToken.None);
        await _queue.RecordOutcomeAsync(new QueueOutcome("recent", "example.net", null, MessageQueueState.Delivered, T0.AddMinutes(-30), Delivered: 1), CancellationToken.None);

        var expired = await _operations.GetFinishedBeforeAsync(MessageQueueState.Delivered, T0.AddDays(-1), 100, CancellationToken.None);

        Assert.Equal(["done"], expired);
        Assert.Empty(await _operations.GetFinishedBeforeAsync(MessageQueueState.Failed, T0, 100, CancellationToken.None));
    }

    [Fact]
    public async Task Entries_past_the_lifetime_are_found_among_due_ones()
    {
        await AcceptAsync("old", T0.AddDays(-6));
        await AcceptAsync("young", T0.AddDays(-1));

        var expired = await _queue.GetDueReceivedBeforeAsync("example.net", T0, T0.AddDays(-5), 10, CancellationToken.None);

        Assert.Equal(["old"], expired.Select(e => e.MessageId));
    }

    [Fact]
    public async Task Deleting_by_state_lists_the_messages_in_that_state()
    {
        await AcceptAsync("m1", T0);
        await AcceptAsync("m2", T0, recipients: ["x@other.test"]);
        await _operations.ApplyAsync(QueueScope.Message("m2"), QueueAction.Hold, T0, CancellationToken.None);

        Assert.Equal(["m2"], await _operations.GetMessageIdsAsync(QueueScope.InState(MessageQueueState.Held), 10, CancellationToken.None));
        Assert.Equal(["m1"], await _operations.GetMessageIdsAsync(QueueScope.OfDomain("example.net"), 10, CancellationToken.None));
        Assert.Equal(["m1"], await _operations.GetMessageIdsAsync(QueueScope.Message("m1"), 10, CancellationToken.None));
    }

    [Fact]
    public async Task Every_recorded_attempt_is_kept_in_the_history_until_the_message_is_deleted()
    {
        await AcceptAsync("m1", T0, recipients: ["a@example.net", "b@example.net"]);
        var first = new DeliveryAttempt("mx.example.net[192.0.2.1]:25", T0,
            [new RecipientResult("a@example.net", RecipientOutcome.Transient, "451 4.7.1 greylisted", DeliveryError.TemporaryReply),
             new RecipientResult("b@example.net", RecipientOutcome.Permanent, "550 5.1.1 unknown", DeliveryError.PermanentReply)],
            "192.0.2.1:25", "TLSv1.3 TLS_AES_256_GCM_SHA384 verified", TimeSpan.FromMilliseconds(1234));
        var second = new DeliveryAttempt("mx.example.net[192.0.2.1]:25", T0.AddMinutes(5),
            [new RecipientResult("a@example.net", RecipientOutcome.Delivered, "250 2.0.0 ok")], "192.0.2.1:25", "none", TimeSpan.FromMilliseconds(80));

        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "example.net", T0.AddMinutes(5), MessageQueueState.Deferred, T0, Deferred: 1, Failed: 1, Attempt: first), CancellationToken.None);
        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "example.net", null, MessageQueueState.Failed, T0.AddMinutes(5), Delivered: 1, Attempt: second), CancellationToken.None);

        var history = await _operations.GetAttemptsAsync("m1", CancellationToken.None);
        Assert.Equal(2, history.Count);
        Assert.All(history, h => Assert.Equal("example.net", h.Domain));
        Assert.Equal(first.Results.ToArray(), history[0].Attempt.Results.ToArray());
        Assert.Equal(first with { Results = history[0].Attempt.Results }, history[0].Attempt);
        Assert.Equal(second with { Results = history[1].Attempt.Results }, history[1].Attempt);

        await _operations.DeleteMessageAsync("m1", CancellationToken.None);
        Assert.Empty(await _operations.GetAttemptsAsync("m1", CancellationToken.None));
    }

    [Fact]
    public async Task The_record_carries_recipient_states_from_each_outcome_and_the_envelope_once_finished()
    {
        await AcceptAsync("m1", T0, MessagePriority.Low, "a@example.net");
        var fresh = await _queue.ReadRecordAsync("m1", CancellationToken.None);
        Assert.NotNull(fresh);
        Assert.True(fresh.Recipients.IsDefault);
        Assert.Null(fresh.Envelope);
        Assert.Equal(MessagePriority.Low, fresh.Priority);

        var deferred = new RecipientState("a@example.net", "example.net", RecipientStatus.Deferred, 1, "451 4.7.1 later", T0, T0.AddMinutes(5), DelayNotified: true, RemoteHost: "mx[192.0.2.1]:25");
        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "example.net", T0.AddMinutes(5), MessageQueueState.Deferred, T0, Deferred: 1, Recipients: [deferred]), CancellationToken.None);
        var afterDeferral = await _queue.ReadRecordAsync("m1", CancellationToken.None);
        Assert.Equal(MessageQueueState.Deferred, afterDeferral!.State);
        Assert.Equal(deferred, Assert.Single(afterDeferral.Recipients));
        Assert.Null(afterDeferral.Envelope);

        var envelope = await _messages.ReadEnvelopeAsync("m1", CancellationToken.None);
        var delivered = deferred with { Status = RecipientStatus.Delivered, Attempts = 2, NextAttemptAt = null, LastReply = "250 ok" };
        await _queue.RecordOutcomeAsync(new QueueOutcome("m1", "example.net", null, MessageQueueState.Delivered, T0.AddMinutes(5), Delivered: 1, Recipients: [delivered], Envelope: envelope), CancellationToken.None);

        Assert.Null(await _messages.ReadEnvelopeAsync("m1", CancellationToken.None));
        var final = await _queue.ReadRecordAsync("m1", CancellationToken.None);
        Assert.Equal(MessageQueueState.Delivered, final!.State);
        Assert.Equal(delivered, Assert.Single(final.Recipients));
        Assert.Equal(envelope!.MessageId, final.Envelope!.MessageId);
        Assert.Equal(envelope.Recipients.ToArray(), final.Envelope.Recipients.ToArray());
        Assert.Null(await _queue.ReadRecordAsync("unknown", CancellationToken.None));
    }
}
