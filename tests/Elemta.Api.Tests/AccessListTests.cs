using System.Net;
using System.Net.Http.Json;

namespace Elemta.Api.Tests;

/// <summary>
/// <c>/api/access-list</c>: admin adds, replaces and removes entries (each change in the audit log), viewers read,
/// and a malformed network is a 400 problem naming the field. The networks are documentation ranges no test connects
/// from, so the shared silo's SMTP is unaffected.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class AccessListTests(ApiSilo api)
{
    [Fact]
    public async Task Admin_adds_replaces_and_removes_entries_viewers_read_them_and_each_change_is_audited()
    {
        using var admin = api.As("admin");
        using var viewer = api.As("viewer");

        // The network URL-encoded, as one path segment.
        var added = await (await admin.PutAsJsonAsync("/api/access-list/198.51.100.0%2F24", new { action = "deny", comment = "abuse" })).ReadJsonAsync(HttpStatusCode.Created);
        Assert.Equal("198.51.100.0/24", added.GetProperty("network").GetString());
        Assert.Equal("deny", added.GetProperty("action").GetString());
        Assert.Equal("abuse", added.GetProperty("comment").GetString());
        Assert.StartsWith("apikey:", added.GetProperty("addedBy").GetString(), StringComparison.Ordinal);

        // The same network unencoded (the rest of the path) replaces it; IPv6 and a bare address are normalised.
        var replaced = await (await admin.PutAsJsonAsync("/api/access-list/198.51.100.0/24", new { action = "allow" })).ReadJsonAsync();
        Assert.Equal("allow", replaced.GetProperty("action").GetString());
        var v6 = await (await admin.PutAsJsonAsync("/api/access-list/2001:DB8:0::%2F48", new { action = "deny" })).ReadJsonAsync(HttpStatusCode.Created);
        Assert.Equal("2001:db8::/48", v6.GetProperty("network").GetString());
        var host = await (await admin.PutAsJsonAsync("/api/access-list/198.51.100.77", new { action = "deny" })).ReadJsonAsync(HttpStatusCode.Created);
        Assert.Equal("198.51.100.77/32", host.GetProperty("network").GetString());

        var list = await (await viewer.GetAsync("/api/access-list")).ReadJsonAsync();
        var entries = list.GetProperty("entries").EnumerateArray().Select(e => (e.GetProperty("network").GetString(), e.GetProperty("action").GetString())).ToList();
        Assert.Contains(("198.51.100.0/24", "allow"), entries);
        Assert.Contains(("198.51.100.77/32", "deny"), entries);
        Assert.Contains(("2001:db8::/48", "deny"), entries);
        Assert.True(entries.IndexOf(("198.51.100.0/24", "allow")) < entries.IndexOf(("2001:db8::/48", "deny")), "IPv4 first");
        var version = list.GetProperty("version").GetInt64();

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/access-list/198.51.100.0%2F24")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/access-list/198.51.100.77")).StatusCode);
        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/access-list/2001:db8::%2F48")).StatusCode);
        var gone = await Problems.AssertProblemAsync(await admin.DeleteAsync("/api/access-list/198.51.100.0%2F24"), HttpStatusCode.NotFound);
        Assert.Contains("198.51.100.0/24", gone.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(version + 3, (await (await viewer.GetAsync("/api/access-list")).ReadJsonAsync()).GetProperty("version").GetInt64());

        var audit = await (await admin.GetAsync("/api/audit?subject=198.51.100.0/24")).ReadJsonAsync();
        var actions = audit.GetProperty("items").EnumerateArray().Select(i => i.GetProperty("action").GetString()).ToList();
        Assert.Equal(["access-list.remove", "access-list.allow", "access-list.deny"], actions.Take(3));
        Assert.Equal("deny: abuse", audit.GetProperty("items")[2].GetProperty("detail").GetString());
    }

    [Theory]
    [InlineData("not-an-address", "is not an IPv4 or IPv6 address or network")]
    [InlineData("198.51.100.1%2F24", "has host bits set: the network is 198.51.100.0/24")]
    [InlineData("198.51.100.0%2F33", "has a bad prefix length: it must be 0-32")]
    [InlineData("10.1", "is not an IPv4 or IPv6 address or network")]
    [InlineData("::ffff:198.51.100.0%2F120", "is IPv4-mapped IPv6")]
    public async Task A_malformed_network_is_a_400_problem_naming_the_field(string network, string reason)
    {
        using var admin = api.As("admin");
        var problem = await Problems.AssertProblemAsync(await admin.PutAsJsonAsync($"/api/access-list/{network}", new { action = "deny" }), HttpStatusCode.BadRequest);
        var detail = problem.GetProperty("detail").GetString()!;
        Assert.StartsWith("network '", detail, StringComparison.Ordinal);
        Assert.Contains(reason, detail, StringComparison.Ordinal);
        await Problems.AssertProblemAsync(await admin.DeleteAsync($"/api/access-list/{network}"), HttpStatusCode.BadRequest);
    }

    [Fact]
    public async Task An_unknown_action_a_missing_body_or_a_bad_comment_is_refused_and_nothing_changes()
    {
        using var admin = api.As("admin");
        var before = (await (await admin.GetAsync("/api/access-list")).ReadJsonAsync()).GetProperty("version").GetInt64();
        var unknown = await Problems.AssertProblemAsync(await admin.PutAsJsonAsync("/api/access-list/203.0.113.0%2F24", new { action = "maybe" }), HttpStatusCode.UnprocessableEntity);
        Assert.Contains("action 'maybe' is unknown: allow or deny", unknown.GetProperty("detail").GetString(), StringComparison.Ordinal);
        await Problems.AssertProblemAsync(await admin.PutAsJsonAsync("/api/access-list/203.0.113.0%2F24", new { comment = "no action" }), HttpStatusCode.BadRequest);
        var comment = await Problems.AssertProblemAsync(await admin.PutAsJsonAsync("/api/access-list/203.0.113.0%2F24", new { action = "deny", comment = new string('x', 201) }), HttpStatusCode.UnprocessableEntity);
        Assert.StartsWith("comment must be at most 200 characters", comment.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, (await (await admin.GetAsync("/api/access-list")).ReadJsonAsync()).GetProperty("version").GetInt64());
    }

    [Theory]
    [InlineData("viewer")]
    [InlineData("operator")]
    public async Task Below_admin_the_list_can_be_read_but_not_changed(string role)
    {
        using var client = api.As(role);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/access-list")).StatusCode);
        await Problems.AssertProblemAsync(await client.PutAsJsonAsync("/api/access-list/203.0.113.0%2F24", new { action = "deny" }), HttpStatusCode.Forbidden);
        await Problems.AssertProblemAsync(await client.DeleteAsync("/api/access-list/203.0.113.0%2F24"), HttpStatusCode.Forbidden);
    }
}
