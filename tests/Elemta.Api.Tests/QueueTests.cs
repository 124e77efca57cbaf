using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;

namespace Elemta.Api.Tests;

/// <summary>
/// The queue endpoints on real messages: a deferred one (its destination refuses connections) and a delivered one
/// (the sink accepted it); what a viewer reads, what an operator does, and every error answer.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class QueueTests(ApiSilo api)
{
    [Fact]
    public async Task A_deferred_message_shows_its_envelope_recipients_attempts_and_why_it_waits()
    {
        var id = await api.SubmitAsync("alice@elemta.test", "bob@deferred.test", "detail");
        await api.WaitForStateAsync(id, "deferred");
        using var viewer = api.As("viewer");

        var detail = await (await viewer.GetAsync($"/api/queue/message/{id}")).ReadJsonAsync();

        Assert.Equal(id, detail.GetProperty("id").GetString());
        Assert.Equal("alice@elemta.test", detail.GetProperty("envelope").GetProperty("sender").GetString());
        Assert.Equal("normal", detail.GetProperty("envelope").GetProperty("priority").GetString());
        Assert.Contains(detail.GetProperty("headers").EnumerateArray(), h => h.GetProperty("name").GetString() == "Subject" && h.GetProperty("value").GetString() == "detail");
        var recipient = Assert.Single(detail.GetProperty("recipients").EnumerateArray());
        Assert.Equal("bob@deferred.test", recipient.GetProperty("address").GetString());
        Assert.Equal("deferred", recipient.GetProperty("status").GetString());
        Assert.NotEmpty(detail.GetProperty("attempts").EnumerateArray());
        var domain = Assert.Single(detail.GetProperty("explanation").GetProperty("domains").EnumerateArray());
        Assert.Equal("deferred.test", domain.GetProperty("domain").GetString());
        Assert.False(string.IsNullOrEmpty(detail.GetProperty("explanation").GetProperty("summary").GetString()));
    }

    [Fact]
    public async Task The_raw_source_is_served_as_message_rfc822()
    {
        var id = await api.SubmitAsync("alice@elemta.test", "bob@deferred.test", "raw source");
        using var viewer = api.As("viewer");

        using var response = await viewer.GetAsync($"/api/queue/message/{id}/raw");

        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Equal("message/rfc822", response.Content.Headers.ContentType?.MediaType);
        Assert.Contains("Subject: raw source\r\n", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Statistics_count_messages_per_state()
    {
        var id = await api.SubmitAsync("alice@elemta.test", "carol@deferred.test", "stats");
        await api.WaitForStateAsync(id, "deferred");
        using var viewer = api.As("viewer");

        var stats = await (await viewer.GetAsync("/api/queue/stats")).ReadJsonAsync();

        Assert.True(stats.GetProperty("messages").GetProperty("deferred").GetInt64() >= 1);
        Assert.True(stats.GetProperty("oldestPendingAgeSeconds").GetDouble() >= 0);
        Assert.Contains(stats.GetProperty("topDomains").EnumerateArray(), d => d.GetProperty("domain").GetString() == "deferred.test");
    }

    [Fact]
    public async Task An_operator_holds_releases_reprioritises_retries_and_deletes_a_message_and_each_is_audited()
    {
        var id = await api.SubmitAsync("alice@elemta.test", "dave@deferred.test", "lifecycle");
        await api.WaitForStateAsync(id, "deferred");
        using var op = api.As("operator");

        var held = await (await op.PostAsync($"/api/queue/message/{id}/hold", null)).ReadJsonAsync();
        Assert.Equal(1, held.GetProperty("messages").GetInt64());
        await api.WaitForStateAsync(id, "held");
        Assert.Contains(await ListIdsAsync("hold"), m => m == id);

        (await op.PostAsync($"/api/queue/message/{id}/release", null)).EnsureSuccessStatusCode();
        Assert.DoesNotContain(await ListIdsAsync("hold"), m => m == id);

        (await op.PutAsJsonAsync($"/api/queue/message/{id}/priority", new { priority = "bulk" })).EnsureSuccessStatusCode();
        using var viewer = api.As("viewer");
        var detail = await (await viewer.GetAsync($"/api/queue/message/{id}")).ReadJsonAsync();
        Assert.Equal("bulk", detail.GetProperty("envelope").GetProperty("priority").GetString());

        (await op.PostAsync($"/api/queue/message/{id}/retry", null)).EnsureSuccessStatusCode();
        (await op.DeleteAsync($"/api/queue/message/{id}")).EnsureSuccessStatusCode();
        await Problems.AssertProblemAsync(await viewer.GetAsync($"/api/queue/message/{id}"), HttpStatusCode.NotFound);

        var audit = await (await viewer.GetAsync($"/api/audit?subject={id}")).ReadJsonAsync();
        var actions = audit.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString()).ToList();
        Assert.Equal(["message.delete", "message.retry", "message.priority", "message.release", "message.hold"], actions);
        Assert.All(audit.GetProperty("items").EnumerateArray(), e => Assert.Equal($"apikey:{api.Keys["operator"].Id}", e.GetProperty("actor").GetString()));
    }

    [Fact]
    public async Task A_domain_is_explained_held_and_released_as_a_whole()
    {
        var id = await api.SubmitAsync("alice@elemta.test", "erin@deferred.test", "domain");
        await api.WaitForStateAsync(id, "deferred");
        using var op = api.As("operator");

        var explained = await (await op.GetAsync("/api/domains/Deferred.Test")).ReadJsonAsync();
        Assert.Equal("deferred.test", explained.GetProperty("domain").GetString());
        Assert.True(explained.GetProperty("queued").GetInt64() >= 1);
        Assert.Equal("closed", explained.GetProperty("circuit").GetString());

        var held = await (await op.PostAsync("/api/domains/deferred.test/hold", null)).ReadJsonAsync();
        Assert.True(held.GetProperty("entries").GetInt64() >= 1);
        await api.WaitForStateAsync(id, "held");
        (await op.PostAsync("/api/domains/deferred.test/release", null)).EnsureSuccessStatusCode();
        using var viewer = api.As("viewer");
        var audit = await (await viewer.GetAsync("/api/audit?subject=deferred.test")).ReadJsonAsync();
        Assert.Equal(["domain.release", "domain.hold"], audit.GetProperty("items").EnumerateArray().Take(2).Select(e => e.GetProperty("action").GetString()));
    }

    [Fact]
    public async Task Flushing_and_purging_a_state_act_on_every_message_in_it()
    {
        var id = await api.SubmitAsync("alice@elemta.test", "frank@deferred.test", "purge");
        await api.WaitForStateAsync(id, "deferred");
        using var op = api.As("operator");
        (await op.PostAsync($"/api/queue/message/{id}/hold", null)).EnsureSuccessStatusCode();
        await api.WaitForStateAsync(id, "held");

        var flushed = await (await op.PostAsync("/api/queue/deferred/flush", null)).ReadJsonAsync();
        Assert.True(flushed.GetProperty("messages").GetInt64() >= 0);
        using var admin = api.As("admin");
        var purged = await (await admin.DeleteAsync("/api/queue/hold")).ReadJsonAsync();

        Assert.True(purged.GetProperty("messages").GetInt64() >= 1);
        await Problems.AssertProblemAsync(await op.GetAsync($"/api/queue/message/{id}"), HttpStatusCode.NotFound);
        var audit = await (await admin.GetAsync("/api/audit?subject=hold")).ReadJsonAsync();
        Assert.Equal("queue.purge", audit.GetProperty("items")[0].GetProperty("action").GetString());
    }

    [Fact]
    public async Task Actions_on_a_delivered_message_conflict_and_its_content_is_gone()
    {
        var id = await api.SubmitAsync("alice@elemta.test", "grace@sink.test", "delivered");
        await api.WaitForStateAsync(id, "delivered");
        using var op = api.As("operator");

        await Problems.AssertProblemAsync(await op.PostAsync($"/api/queue/message/{id}/hold", null), HttpStatusCode.Conflict);
        await Problems.AssertProblemAsync(await op.PutAsJsonAsync($"/api/queue/message/{id}/priority", new { priority = "high" }), HttpStatusCode.Conflict);
        await Problems.AssertProblemAsync(await op.GetAsync($"/api/queue/message/{id}/raw"), HttpStatusCode.NotFound);
        await Problems.AssertProblemAsync(await op.PostAsync("/api/queue/delivered/flush", null), HttpStatusCode.UnprocessableEntity);
    }

    [Theory]
    [InlineData("GET", "/api/queue/message/not-an-id", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/queue/message/0123456789ABCDEF0123456789ABCDEF", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/queue/message/0123456789abcdef0123456789abcdef", null, HttpStatusCode.NotFound)]
    [InlineData("GET", "/api/queue/message/0123456789abcdef0123456789abcdef/raw", null, HttpStatusCode.NotFound)]
    [InlineData("POST", "/api/queue/message/x'%3B--/hold", null, HttpStatusCode.BadRequest)]
    [InlineData("POST", "/api/queue/message/0123456789abcdef0123456789abcdef/release", null, HttpStatusCode.NotFound)]
    [InlineData("DELETE", "/api/queue/message/0123456789abcdef0123456789abcdef", null, HttpStatusCode.NotFound)]
    [InlineData("PUT", "/api/queue/message/0123456789abcdef0123456789abcdef/priority", """{"priority":"urgent"}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("PUT", "/api/queue/message/0123456789abcdef0123456789abcdef/priority", """{"priority":"100"}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("PUT", "/api/queue/message/0123456789abcdef0123456789abcdef/priority", """{}""", HttpStatusCode.BadRequest)]
    [InlineData("PUT", "/api/queue/message/0123456789abcdef0123456789abcdef/priority", """{"priority":""", HttpStatusCode.BadRequest)]
    [InlineData("PUT", "/api/queue/message/0123456789abcdef0123456789abcdef/priority", """{"priority":42}""", HttpStatusCode.BadRequest)]
    [InlineData("PUT", "/api/queue/message/0123456789abcdef0123456789abcdef/priority", "priority=high", HttpStatusCode.UnsupportedMediaType)]
    [InlineData("PUT", "/api/queue/message/0123456789abcdef0123456789abcdef/priority", """{"priority":"high"}""", HttpStatusCode.NotFound)]
    [InlineData("GET", "/api/queue/frozen", null, HttpStatusCode.NotFound)]
    [InlineData("POST", "/api/queue/frozen/flush", null, HttpStatusCode.NotFound)]
    [InlineData("GET", "/api/queue/active?limit=0", null, HttpStatusCode.UnprocessableEntity)]
    [InlineData("GET", "/api/queue/active?limit=1001", null, HttpStatusCode.UnprocessableEntity)]
    [InlineData("GET", "/api/queue/active?limit=ten", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/queue/active?sort=sideways", null, HttpStatusCode.UnprocessableEntity)]
    [InlineData("GET", "/api/queue/active?cursor=not-a-cursor", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/queue/active?domain=a..b", null, HttpStatusCode.UnprocessableEntity)]
    [InlineData("GET", "/api/domains/exa_mple.test", null, HttpStatusCode.BadRequest)]
    [InlineData("POST", "/api/domains/-bad-.test/hold", null, HttpStatusCode.BadRequest)]
    [InlineData("PUT", "/api/domains/matrix.test/priority", """{"priority":"soon"}""", HttpStatusCode.UnprocessableEntity)]
    public async Task Malformed_unknown_and_invalid_requests_get_the_matching_problem(string method, string path, string? body, HttpStatusCode status)
    {
        using var op = api.As("operator");
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, body.StartsWith('{') ? "application/json" : "application/x-www-form-urlencoded");
        }

        await Problems.AssertProblemAsync(await op.SendAsync(request), status);
    }

    [Fact]
    public async Task A_cursor_from_one_listing_is_refused_by_another()
    {
        using var viewer = api.As("viewer");
        for (var i = 0; i < 2; i++)
        {
            await api.WaitForStateAsync(await api.SubmitAsync("alice@elemta.test", $"cursor{i}@deferred.test"), "deferred");
        }

        var page = await (await viewer.GetAsync("/api/queue/deferred?limit=1")).ReadJsonAsync();
        var cursor = page.GetProperty("nextCursor").GetString()!;

        await Problems.AssertProblemAsync(await viewer.GetAsync($"/api/queue/active?limit=1&cursor={cursor}"), HttpStatusCode.BadRequest);
        await Problems.AssertProblemAsync(await viewer.GetAsync($"/api/queue/deferred?limit=1&sort=newest&cursor={cursor}"), HttpStatusCode.BadRequest);
        Assert.Equal(HttpStatusCode.OK, (await viewer.GetAsync($"/api/queue/deferred?limit=1&cursor={cursor}")).StatusCode);
    }

    private async Task<List<string>> ListIdsAsync(string state)
    {
        using var viewer = api.As("viewer");
        var page = await (await viewer.GetAsync($"/api/queue/{state}?limit=1000")).ReadJsonAsync();
        return [.. page.GetProperty("items").EnumerateArray().Select(m => m.GetProperty("messageId").GetString()!)];
    }
}
