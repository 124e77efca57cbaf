using System.Net;
using System.Text;
using System.Text.Json;
using Elemta.Contracts;

namespace Elemta.Api.Tests;

/// <summary>
/// <c>GET /api/queue/{state}</c> sorted by priority or age and filtered by recipient, and <c>GET /api/queue/stats</c>
/// counting per priority, on real messages of a real silo.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class QueueOrderAndFilterTests(ApiSilo api)
{
    private static readonly MessagePriority[] Priorities = Enum.GetValues<MessagePriority>();

    [Fact]
    public async Task Pages_sorted_by_priority_list_each_message_once_most_urgent_first_then_oldest()
    {
        var recipient = $"prio-{Guid.NewGuid():N}@deferred.test";
        var ids = new HashSet<string>();
        for (var i = 0; i < 25; i++)
        {
            ids.Add(await SubmitAsync(recipient, Priorities[i % Priorities.Length], $"priority {i}"));
        }

        await WaitListedAsync("deferred", recipient, ids.Count);

        var listed = await ListAllAsync($"/api/queue/deferred?sort=priority&recipient={Uri.EscapeDataString(recipient)}&limit=4");

        Assert.Equal(ids.Count, listed.Count);
        Assert.True(ids.SetEquals(listed.Select(m => m.Id)));
        Assert.Equal(listed.OrderBy(m => (int)m.Priority).ThenBy(m => m.ReceivedAt).ThenBy(m => m.Id, StringComparer.Ordinal), listed);
        Assert.Equal(MessagePriority.Critical, listed[0].Priority);
        Assert.Equal(MessagePriority.Bulk, listed[^1].Priority);
    }

    [Fact]
    public async Task Sorted_by_age_is_the_default_oldest_first()
    {
        var recipient = $"age-{Guid.NewGuid():N}@deferred.test";
        var ids = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            ids.Add(await SubmitAsync(recipient, Priorities[(i * 3) % Priorities.Length], $"age {i}"));
        }

        await WaitListedAsync("deferred", recipient, ids.Count);
        var query = $"/api/queue/deferred?recipient={Uri.EscapeDataString(recipient)}&limit=5";

        var byDefault = await ListAllAsync(query);
        var byAge = await ListAllAsync(query + "&sort=age");

        Assert.Equal(byDefault, byAge);
        Assert.Equal(byAge.OrderBy(m => m.ReceivedAt).ThenBy(m => m.Id, StringComparer.Ordinal), byAge);
        Assert.Equal(ids.Count, byAge.Count);
    }

    [Fact]
    public async Task The_recipient_filter_lists_only_that_recipients_messages_in_any_case_pending_or_delivered()
    {
        var tag = Guid.NewGuid().ToString("N")[..10];
        var waiting = await SubmitAsync($"Rcpt-{tag}@deferred.test", MessagePriority.Normal, "for the filter");
        var other = await SubmitAsync($"other-{tag}@deferred.test", MessagePriority.Normal, "not for the filter");
        var delivered = await SubmitAsync($"rcpt-{tag}@sink.test", MessagePriority.Normal, "delivered, for the filter");
        await api.WaitForStateAsync(waiting, "deferred");
        await api.WaitForStateAsync(other, "deferred");
        await api.WaitForStateAsync(delivered, "delivered");

        var pending = await ListAllAsync($"/api/queue/deferred?recipient=RCPT-{tag}%40DEFERRED.TEST");
        var finished = await ListAllAsync($"/api/queue/delivered?recipient=rcpt-{tag}%40sink.test&sort=newest");

        Assert.Equal([waiting], pending.Select(m => m.Id));
        Assert.Equal([delivered], finished.Select(m => m.Id));
        Assert.Empty(await ListAllAsync($"/api/queue/deferred?recipient=%25-{tag}%40deferred.test"));
    }

    [Fact]
    public async Task Statistics_count_messages_per_priority_and_state_adding_up_to_the_state_counts()
    {
        using var viewer = api.As("viewer");
        var recipient = $"stats-{Guid.NewGuid():N}@deferred.test";
        var before = await (await viewer.GetAsync("/api/queue/stats")).ReadJsonAsync();
        var first = await SubmitAsync(recipient, MessagePriority.Bulk, "bulk one");
        var second = await SubmitAsync(recipient, MessagePriority.Bulk, "bulk two");
        await api.WaitForStateAsync(first, "deferred");
        await api.WaitForStateAsync(second, "deferred");

        var after = await (await viewer.GetAsync("/api/queue/stats")).ReadJsonAsync();

        var byPriority = after.GetProperty("byPriority");
        Assert.Equal(["critical", "high", "normal", "low", "bulk"], byPriority.EnumerateObject().Select(p => p.Name));
        Assert.True(Total(byPriority.GetProperty("bulk")) >= Total(before.GetProperty("byPriority").GetProperty("bulk")) + 2);
        Assert.True(byPriority.GetProperty("bulk").GetProperty("deferred").GetInt64() >= 2);
        // One snapshot: the per-priority counts add up to the per-state counts of the same answer.
        foreach (var state in new[] { "active", "deferred", "held", "failed", "delivered" })
        {
            Assert.Equal(after.GetProperty("messages").GetProperty(state).GetInt64(), byPriority.EnumerateObject().Sum(p => p.Value.GetProperty(state).GetInt64()));
        }
    }

    [Fact]
    public async Task A_priority_cursor_is_refused_by_the_age_listing_and_the_other_way_round()
    {
        var recipient = $"cursor-{Guid.NewGuid():N}@deferred.test";
        for (var i = 0; i < 3; i++)
        {
            await SubmitAsync(recipient, MessagePriority.High, $"cursor {i}");
        }

        await WaitListedAsync("deferred", recipient, 3);
        using var viewer = api.As("viewer");
        var filter = $"recipient={Uri.EscapeDataString(recipient)}&limit=1";
        var byPriority = (await (await viewer.GetAsync($"/api/queue/deferred?sort=priority&{filter}")).ReadJsonAsync()).GetProperty("nextCursor").GetString()!;
        var byAge = (await (await viewer.GetAsync($"/api/queue/deferred?sort=age&{filter}")).ReadJsonAsync()).GetProperty("nextCursor").GetString()!;

        await Problems.AssertProblemAsync(await viewer.GetAsync($"/api/queue/deferred?sort=age&{filter}&cursor={byPriority}"), HttpStatusCode.BadRequest);
        await Problems.AssertProblemAsync(await viewer.GetAsync($"/api/queue/deferred?sort=priority&{filter}&cursor={byAge}"), HttpStatusCode.BadRequest);
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync($"/api/queue/deferred?sort=priority&{filter}&cursor={byPriority}")).StatusCode);
    }

    [Theory]
    [InlineData("/api/queue/active?recipient=nobody")]
    [InlineData("/api/queue/active?recipient=%40example.test")]
    [InlineData("/api/queue/active?recipient=a%20b%40example.test")]
    [InlineData("/api/queue/active?sort=urgency")]
    public async Task A_bad_sort_or_recipient_is_a_422_problem(string path)
    {
        using var viewer = api.As("viewer");
        await Problems.AssertProblemAsync(await viewer.GetAsync(path), HttpStatusCode.UnprocessableEntity);
    }

    private static long Total(JsonElement counts) => counts.EnumerateObject().Sum(p => p.Value.GetInt64());

    private Task<string> SubmitAsync(string recipient, MessagePriority priority, string subject) =>
        api.Client.SubmitAsync("order@elemta.test", [recipient], Encoding.ASCII.GetBytes(
            $"From: <order@elemta.test>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@elemta.test>\r\n\r\nHello\r\n"), priority);

    /// <summary>Waits until <paramref name="count"/> messages for <paramref name="recipient"/> are listed in <paramref name="state"/>.</summary>
    private async Task WaitListedAsync(string state, string recipient, int count) =>
        await Elemta.Silo.Tests.Eventually.GetAsync(
            async () => (await ListAllAsync($"/api/queue/{state}?recipient={Uri.EscapeDataString(recipient)}&limit=1000")).Count,
            n => n == count, ApiSilo.Timeout, $"{count} messages for {recipient} {state}");

    private async Task<List<Listed>> ListAllAsync(string first)
    {
        using var viewer = api.As("viewer");
        var listed = new List<Listed>();
        string? cursor = null;
        do
        {
            var page = await (await viewer.GetAsync(cursor is null ? first : $"{first}&cursor={cursor}")).ReadJsonAsync();
            listed.AddRange(page.GetProperty("items").EnumerateArray().Select(m => new Listed(
                m.GetProperty("messageId").GetString()!,
                Enum.Parse<MessagePriority>(m.GetProperty("priority").GetString()!, ignoreCase: true),
                m.GetProperty("receivedAt").GetDateTimeOffset())));
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);

        return listed;
    }

    private sealed record Listed(string Id, MessagePriority Priority, DateTimeOffset ReceivedAt);
}
