using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using Elemta.Auth;
using Elemta.Contracts;

namespace Elemta.Api.Tests;

/// <summary>API keys and HTTP Basic: who is let in, who is refused and how, and the lockout shared with SMTP AUTH.</summary>
[Collection(ApiCollection.Name)]
public sealed class AuthenticationTests(ApiSilo api)
{
    [Fact]
    public async Task A_request_without_credentials_gets_401_offering_both_schemes_as_a_problem()
    {
        using var client = api.Anonymous();
        using var response = await client.GetAsync("/api/queue/stats");

        await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        var challenges = response.Headers.WwwAuthenticate.Select(h => h.Scheme).ToList();
        Assert.Contains("Bearer", challenges);
        Assert.Contains("Basic", challenges);
    }

    [Theory]
    [InlineData("not-a-key")]
    [InlineData("elemta_000000000000_secret")]
    [InlineData("elemta_abc")]
    public async Task A_bearer_token_that_is_no_key_gets_401(string token)
    {
        using var client = api.Bearer(token);
        using var response = await client.GetAsync("/api/queue/stats");
        await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_known_key_with_a_wrong_secret_gets_401()
    {
        var (id, _) = api.Keys["admin"];
        using var client = api.Bearer($"elemta_{id}_{new string('A', 43)}");
        using var response = await client.GetAsync("/api/queue/stats");
        await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task A_revoked_key_is_refused_from_then_on()
    {
        using var admin = api.As("admin");
        var created = await (await admin.PostAsJsonAsync("/api/apikeys", new { role = "viewer", name = "short-lived" })).ReadJsonAsync(HttpStatusCode.Created);
        var key = created.GetProperty("key").GetString()!;
        var id = created.GetProperty("apiKey").GetProperty("id").GetString()!;
        using var client = api.Bearer(key);
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/queue/stats")).StatusCode);

        Assert.Equal(HttpStatusCode.NoContent, (await admin.DeleteAsync($"/api/apikeys/{id}")).StatusCode);

        await Problems.AssertProblemAsync(await client.GetAsync("/api/queue/stats"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task An_expired_key_is_refused()
    {
        // The API does not make keys that are already expired: store one through the registry grain, as time would.
        var now = DateTimeOffset.UtcNow;
        var (key, record) = ApiKeys.Create("expired", UserRole.Admin, now.AddDays(-2), "tests", now.AddDays(-1));
        Assert.True(await api.Grains.GetGrain<IApiKeyRegistryGrain>(IApiKeyRegistryGrain.Key).CreateAsync(record, "tests"));

        using var client = api.Bearer(key);
        await Problems.AssertProblemAsync(await client.GetAsync("/api/queue/stats"), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task Basic_with_the_admin_password_is_let_in_and_a_wrong_one_is_not()
    {
        using (var admin = api.Basic("admin", api.AdminPassword))
        {
            Assert.Equal(HttpStatusCode.OK, (await admin.GetAsync("/api/users")).StatusCode);
        }

        using var wrong = api.Basic("nobody-here", "wrong password");
        await Problems.AssertProblemAsync(await wrong.GetAsync("/api/queue/stats"), HttpStatusCode.Unauthorized);
    }

    [Theory]
    [InlineData("Basic !!!not-base64!!!")]
    [InlineData("Basic bm8tY29sb24=")] // "no-colon"
    [InlineData("Digest username=\"admin\"")]
    public async Task Malformed_or_unknown_authorization_gets_401(string header)
    {
        using var client = api.Anonymous();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/queue/stats");
        request.Headers.TryAddWithoutValidation("Authorization", header);
        await Problems.AssertProblemAsync(await client.SendAsync(request), HttpStatusCode.Unauthorized);
    }

    [Fact]
    public async Task An_account_with_only_the_sender_role_gets_403_with_basic_and_with_a_key()
    {
        using var admin = api.As("admin");
        (await admin.PostAsJsonAsync("/api/users", new { name = "smtp-only@elemta.test", roles = new[] { "sender" }, password = "sender password 1" })).EnsureSuccessStatusCode();

        using var basic = api.Basic("smtp-only@elemta.test", "sender password 1");
        await Problems.AssertProblemAsync(await basic.GetAsync("/api/queue/stats"), HttpStatusCode.Forbidden);
        using var key = api.As("sender");
        await Problems.AssertProblemAsync(await key.GetAsync("/api/queue/stats"), HttpStatusCode.Forbidden);
    }

    [Fact]
    public async Task Repeated_basic_failures_lock_the_account_even_for_the_right_password()
    {
        using var admin = api.As("admin");
        (await admin.PostAsJsonAsync("/api/users", new { name = "guessed", roles = new[] { "viewer" }, password = "the right password" })).EnsureSuccessStatusCode();
        using var wrong = api.Basic("guessed", "a wrong guess");
        for (var i = 0; i < ApiSilo.FailuresPerUser; i++)
        {
            await Problems.AssertProblemAsync(await wrong.GetAsync("/api/queue/stats"), HttpStatusCode.Unauthorized);
        }

        using var right = api.Basic("guessed", "the right password");
        using var response = await right.GetAsync("/api/queue/stats");

        await Problems.AssertProblemAsync(response, HttpStatusCode.TooManyRequests);
        Assert.NotNull(response.Headers.RetryAfter);
    }

    [Fact]
    public async Task The_openapi_document_is_served_without_credentials_and_lists_the_endpoints()
    {
        using var client = api.Anonymous();
        var document = await (await client.GetAsync("/openapi/v1.json")).ReadJsonAsync();

        var paths = document.GetProperty("paths").EnumerateObject().Select(p => p.Name).ToList();
        Assert.Contains("/api/queue/{state}", paths);
        Assert.Contains("/api/queue/message/{id}/raw", paths);
        Assert.Contains("/api/users/{name}/password", paths);
        Assert.Contains("/api/apikeys/{id}", paths);
        Assert.Contains("/api/cluster", paths);
        Assert.Contains("/api/access-list", paths);
        Assert.Contains("/api/access-list/{network}", paths);
    }

    [Fact]
    public async Task Without_dev_mode_there_is_no_reference_page()
    {
        using var client = api.Anonymous();
        await Problems.AssertProblemAsync(await client.GetAsync("/scalar/"), HttpStatusCode.NotFound);
    }

    [Fact]
    public async Task The_cluster_lists_this_silo_as_active()
    {
        using var viewer = api.As("viewer");
        var cluster = await (await viewer.GetAsync("/api/cluster")).ReadJsonAsync();

        var silo = Assert.Single(cluster.GetProperty("silos").EnumerateArray());
        Assert.Equal("Active", silo.GetProperty("status").GetString());
        Assert.True(silo.GetProperty("activations").GetInt32() > 0);
    }
}
