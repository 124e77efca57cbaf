using System.Diagnostics;
using System.Net;
using System.Text.Json;
using Xunit.Abstractions;

namespace Elemta.Api.Tests;

/// <summary>
/// Keyset paging over many real messages: every message of a listing appears exactly once whatever the page size and
/// order, although thousands share a received millisecond; filters are bound as values, so SQL in them changes nothing.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class PaginationTests(ApiSilo api, ITestOutputHelper output)
{
    /// <summary>Messages delivered to the sink for the paging tests.</summary>
    public const int Count = 10_000;

    private const string Sender = "pager@elemta.test";
    private static readonly SemaphoreSlim Seeded = new(1, 1);
    private static HashSet<string>? _ids;

    [Theory]
    [InlineData(1000, "oldest")]
    [InlineData(1000, "newest")]
    [InlineData(337, "oldest")]
    public async Task Every_delivered_message_is_listed_once_across_pages(int limit, string sort)
    {
        var expected = await SeedAsync();
        var stopwatch = Stopwatch.StartNew();

        var listed = await ListAllAsync($"/api/queue/delivered?sender={Uri.EscapeDataString(Sender)}&limit={limit}&sort={sort}");

        output.WriteLine($"{listed.Count} messages in {(listed.Count + limit - 1) / limit} pages of {limit} ({sort} first) in {stopwatch.ElapsedMilliseconds} ms");
        Assert.Equal(listed.Count, listed.Select(m => m.Id).Distinct().Count());
        Assert.True(expected.SetEquals(listed.Select(m => m.Id)));
        var order = listed.Select(m => (m.ReceivedAt, m.Id)).ToList();
        var sorted = sort == "oldest" ? order.Order().ToList() : order.OrderDescending().ToList();
        Assert.Equal(sorted, order);
    }

    [Fact]
    public async Task Paging_without_a_filter_lists_every_delivered_message_once()
    {
        var expected = await SeedAsync();

        var listed = await ListAllAsync("/api/queue/delivered?limit=1000");

        Assert.Equal(listed.Count, listed.Select(m => m.Id).Distinct().Count());
        Assert.True(expected.IsSubsetOf(listed.Select(m => m.Id)));
    }

    [Theory]
    [InlineData("' OR '1'='1")]
    [InlineData("pager@elemta.test' --")]
    [InlineData("%")]
    [InlineData("pager@elemta.%")]
    [InlineData("_ager@elemta.test")]
    [InlineData("\"; DROP TABLE elemta_message; --")]
    public async Task Sql_in_a_filter_is_a_value_that_matches_nothing(string sender)
    {
        var expected = await SeedAsync();
        using var viewer = api.As("viewer");

        var page = await (await viewer.GetAsync($"/api/queue/delivered?sender={Uri.EscapeDataString(sender)}")).ReadJsonAsync();

        Assert.Empty(page.GetProperty("items").EnumerateArray());
        Assert.Equal(JsonValueKind.Null, page.GetProperty("nextCursor").ValueKind);
        Assert.Equal(expected.Count, (await ListAllAsync($"/api/queue/delivered?sender={Uri.EscapeDataString(Sender)}&limit=1000")).Count);
    }

    [Theory]
    [InlineData("x' OR 1=1 --")]
    [InlineData("sink.test; DELETE FROM elemta_queue")]
    public async Task Sql_in_a_domain_filter_is_refused_as_not_a_domain(string domain)
    {
        using var viewer = api.As("viewer");
        await Problems.AssertProblemAsync(await viewer.GetAsync($"/api/queue/deferred?domain={Uri.EscapeDataString(domain)}"), HttpStatusCode.UnprocessableEntity);
    }

    [Fact]
    public async Task The_domain_filter_lists_only_messages_waiting_for_that_domain()
    {
        var waiting = await api.SubmitAsync("alice@elemta.test", "filter@deferred.test", "domain filter");
        await api.WaitForStateAsync(waiting, "deferred");

        var listed = await ListAllAsync("/api/queue/deferred?domain=deferred.test&limit=100");
        var none = await ListAllAsync("/api/queue/deferred?domain=sink.test&limit=100");

        Assert.Contains(listed, m => m.Id == waiting);
        Assert.Empty(none);
    }

    private async Task<List<(string Id, DateTimeOffset ReceivedAt)>> ListAllAsync(string first)
    {
        using var viewer = api.As("viewer");
        var listed = new List<(string, DateTimeOffset)>();
        string? cursor = null;
        do
        {
            var page = await (await viewer.GetAsync(cursor is null ? first : $"{first}&cursor={cursor}")).ReadJsonAsync();
            listed.AddRange(page.GetProperty("items").EnumerateArray().Select(m => (m.GetProperty("messageId").GetString()!, m.GetProperty("receivedAt").GetDateTimeOffset())));
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);

        return listed;
    }

    /// <summary>Submits <see cref="Count"/> messages to the sink once for the whole class and waits until all are delivered.</summary>
    private async Task<HashSet<string>> SeedAsync()
    {
        await Seeded.WaitAsync();
        try
        {
            if (_ids is not null)
            {
                return _ids;
            }

            using var viewer = api.As("viewer");
            async Task<long> DeliveredAsync() =>
                (await (await viewer.GetAsync("/api/queue/stats")).ReadJsonAsync()).GetProperty("messages").GetProperty("delivered").GetInt64();
            var before = await DeliveredAsync();
            var stopwatch = Stopwatch.StartNew();
            var ids = new System.Collections.Concurrent.ConcurrentBag<string>();
            await Parallel.ForEachAsync(Enumerable.Range(0, Count), new ParallelOptions { MaxDegreeOfParallelism = 32 },
                async (i, _) => ids.Add(await api.SubmitAsync(Sender, $"page{i % 50}@sink.test", $"page {i}")));
            output.WriteLine($"submitted {Count} messages in {stopwatch.ElapsedMilliseconds} ms");

            await Elemta.Silo.Tests.Eventually.GetAsync(DeliveredAsync, delivered => delivered >= before + Count, TimeSpan.FromMinutes(5), $"{Count} messages delivered");
            output.WriteLine($"all delivered after {stopwatch.ElapsedMilliseconds} ms");
            _ids = [.. ids];
            return _ids;
        }
        finally
        {
            Seeded.Release();
        }
    }
}
