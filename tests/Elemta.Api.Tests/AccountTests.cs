using System.Net;
using System.Net.Http.Json;
using System.Text.Json;

namespace Elemta.Api.Tests;

/// <summary>Accounts and API keys through the API: create, roles, passwords, delete, revoke, and their error answers.</summary>
[Collection(ApiCollection.Name)]
public sealed class AccountTests(ApiSilo api)
{
    [Fact]
    public async Task An_account_created_with_a_generated_password_can_sign_in_with_its_role_once_shown()
    {
        using var admin = api.Basic("admin", api.AdminPassword);

        var created = await (await admin.PostAsJsonAsync("/api/users", new { name = "Olivia@Elemta.Test", roles = new[] { "viewer" } })).ReadJsonAsync(HttpStatusCode.Created);

        Assert.Equal("olivia@elemta.test", created.GetProperty("user").GetProperty("name").GetString());
        var password = created.GetProperty("password").GetString()!;
        Assert.Equal(24, password.Length);
        using var olivia = api.Basic("olivia@elemta.test", password);
        Assert.Equal(HttpStatusCode.OK, (await olivia.GetAsync("/api/queue/stats")).StatusCode);
        await Problems.AssertProblemAsync(await olivia.PostAsync("/api/queue/deferred/flush", null), HttpStatusCode.Forbidden);
        var fetched = await (await admin.GetAsync("/api/users/olivia@elemta.test")).ReadJsonAsync();
        Assert.False(fetched.TryGetProperty("password", out _));
        Assert.DoesNotContain(password, await (await admin.GetAsync("/api/users")).Content.ReadAsStringAsync(), StringComparison.Ordinal);

        var audit = await (await admin.GetAsync("/api/audit?subject=olivia@elemta.test")).ReadJsonAsync();
        var record = audit.GetProperty("items")[0];
        Assert.Equal("user.create", record.GetProperty("action").GetString());
        Assert.Equal("admin", record.GetProperty("actor").GetString());
    }

    [Fact]
    public async Task Roles_changed_and_password_reset_take_effect_at_once_and_a_deleted_account_is_gone()
    {
        using var admin = api.As("admin");
        (await admin.PostAsJsonAsync("/api/users", new { name = "pat", roles = new[] { "viewer" }, password = "first password" })).EnsureSuccessStatusCode();
        using var pat = api.Basic("pat", "first password");
        await Problems.AssertProblemAsync(await pat.PostAsync("/api/queue/deferred/flush", null), HttpStatusCode.Forbidden);

        var updated = await (await admin.PutAsJsonAsync("/api/users/pat", new { roles = new[] { "operator" } })).ReadJsonAsync();
        Assert.Equal(["operator"], updated.GetProperty("roles").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal(HttpStatusCode.OK, (await pat.PostAsync("/api/queue/deferred/flush", null)).StatusCode);

        var reset = await (await admin.PostAsJsonAsync("/api/users/pat/password", new { })).ReadJsonAsync();
        var generated = reset.GetProperty("password").GetString()!;
        await Problems.AssertProblemAsync(await pat.GetAsync("/api/queue/stats"), HttpStatusCode.Unauthorized);
        using var patAgain = api.Basic("pat", generated);
        Assert.Equal(HttpStatusCode.OK, (await patAgain.GetAsync("/api/queue/stats")).StatusCode);

        var given = await (await admin.PostAsJsonAsync("/api/users/pat/password", new { password = "chosen password" })).ReadJsonAsync();
        Assert.Equal(JsonValueKind.Null, given.GetProperty("password").ValueKind);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync("/api/users/pat")).StatusCode);
        await Problems.AssertProblemAsync(await admin.GetAsync("/api/users/pat"), HttpStatusCode.NotFound);
        using var deleted = api.Basic("pat", "chosen password");
        await Problems.AssertProblemAsync(await deleted.GetAsync("/api/queue/stats"), HttpStatusCode.Unauthorized);
        var audit = await (await admin.GetAsync("/api/audit?subject=pat")).ReadJsonAsync();
        Assert.Equal(["user.delete", "user.password", "user.password", "user.update", "user.create"],
            audit.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString()));
        Assert.All(audit.GetProperty("items").EnumerateArray(), e => Assert.Equal($"apikey:{api.Keys["admin"].Id}", e.GetProperty("actor").GetString()));
    }

    [Theory]
    [InlineData("POST", "/api/users", """{"roles":["viewer"]}""", HttpStatusCode.BadRequest)]
    [InlineData("POST", "/api/users", """{"name":"x y","roles":["viewer"]}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("POST", "/api/users", """{"name":"quinn","roles":["superuser"]}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("POST", "/api/users", """{"name":"quinn","roles":[]}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("POST", "/api/users", """{"name":"quinn","roles":["viewer"],"password":"short"}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("POST", "/api/users", """{"name":"quinn","roles":["sender"],"allowedSenders":["not an address"]}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("POST", "/api/users", """{"name":"quinn","roles":"viewer"}""", HttpStatusCode.BadRequest)]
    [InlineData("POST", "/api/users", """{"name":""", HttpStatusCode.BadRequest)]
    [InlineData("POST", "/api/users", """{"name":"admin","roles":["viewer"],"password":"long enough"}""", HttpStatusCode.Conflict)]
    [InlineData("GET", "/api/users/no%20such", null, HttpStatusCode.BadRequest)]
    [InlineData("GET", "/api/users/nobody", null, HttpStatusCode.NotFound)]
    [InlineData("PUT", "/api/users/nobody", """{"roles":["viewer"]}""", HttpStatusCode.NotFound)]
    [InlineData("PUT", "/api/users/admin", """{}""", HttpStatusCode.BadRequest)]
    [InlineData("PUT", "/api/users/admin", """{"roles":["viewer"]}""", HttpStatusCode.Conflict)]
    [InlineData("DELETE", "/api/users/admin", null, HttpStatusCode.Conflict)]
    [InlineData("POST", "/api/users/nobody/password", "{}", HttpStatusCode.NotFound)]
    [InlineData("POST", "/api/users/admin/password", """{"password":"short"}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("POST", "/api/apikeys", """{"name":"no role"}""", HttpStatusCode.BadRequest)]
    [InlineData("POST", "/api/apikeys", """{"role":"root"}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("POST", "/api/apikeys", """{"role":"viewer","expiresInDays":0}""", HttpStatusCode.UnprocessableEntity)]
    [InlineData("POST", "/api/apikeys", """{"role":"viewer","expiresInDays":"soon"}""", HttpStatusCode.BadRequest)]
    [InlineData("DELETE", "/api/apikeys/ABC", null, HttpStatusCode.BadRequest)]
    [InlineData("DELETE", "/api/apikeys/0123456789ab", null, HttpStatusCode.NotFound)]
    public async Task Account_and_key_errors_get_the_matching_problem(string method, string path, string? body, HttpStatusCode status)
    {
        using var admin = api.As("admin");
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, System.Text.Encoding.UTF8, "application/json");
        }

        await Problems.AssertProblemAsync(await admin.SendAsync(request), status);
    }

    [Fact]
    public async Task A_key_is_shown_once_listed_without_its_secret_and_revoked_once()
    {
        using var admin = api.As("admin");
        var created = await (await admin.PostAsJsonAsync("/api/apikeys", new { role = "operator", name = "ci", expiresInDays = 30 })).ReadJsonAsync(HttpStatusCode.Created);
        var key = created.GetProperty("key").GetString()!;
        var id = created.GetProperty("apiKey").GetProperty("id").GetString()!;
        Assert.Equal("active", created.GetProperty("apiKey").GetProperty("state").GetString());
        Assert.StartsWith($"elemta_{id}_", key, StringComparison.Ordinal);

        var list = await (await admin.GetAsync("/api/apikeys")).Content.ReadAsStringAsync();
        Assert.Contains(id, list, StringComparison.Ordinal);
        Assert.DoesNotContain(key[^20..], list, StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/apikeys/{id}")).StatusCode);
        await Problems.AssertProblemAsync(await admin.DeleteAsync($"/api/apikeys/{id}"), HttpStatusCode.Conflict);
        var listed = (await (await admin.GetAsync("/api/apikeys")).ReadJsonAsync()).EnumerateArray().Single(k => k.GetProperty("id").GetString() == id);
        Assert.Equal("revoked", listed.GetProperty("state").GetString());

        var audit = await (await admin.GetAsync($"/api/audit?subject={id}")).ReadJsonAsync();
        Assert.Equal(["apikey.revoke", "apikey.create"], audit.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("action").GetString()));
    }

    [Fact]
    public async Task The_audit_log_pages_newest_first_without_repeating_a_record()
    {
        using var admin = api.As("admin");
        for (var i = 0; i < 7; i++)
        {
            (await admin.PostAsJsonAsync("/api/apikeys", new { role = "viewer", name = $"paging {i}" })).EnsureSuccessStatusCode();
        }

        var ids = new List<long>();
        string? cursor = null;
        do
        {
            var page = await (await admin.GetAsync($"/api/audit?limit=3{(cursor is null ? string.Empty : $"&cursor={cursor}")}")).ReadJsonAsync();
            ids.AddRange(page.GetProperty("items").EnumerateArray().Select(e => e.GetProperty("id").GetInt64()));
            cursor = page.GetProperty("nextCursor").GetString();
        }
        while (cursor is not null);

        Assert.True(ids.Count >= 7);
        Assert.Equal(ids.OrderDescending(), ids);
        Assert.Equal(ids.Count, ids.Distinct().Count());
        await Problems.AssertProblemAsync(await admin.GetAsync("/api/audit?cursor=AAAA"), HttpStatusCode.BadRequest);
        await Problems.AssertProblemAsync(await admin.GetAsync("/api/audit?limit=0"), HttpStatusCode.UnprocessableEntity);
    }
}
