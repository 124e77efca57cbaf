using System.Net;
using System.Text;

namespace Elemta.Api.Tests;

/// <summary>
/// Every endpoint × (anonymous, sender, viewer, operator, admin): no credentials is 401, a role below the endpoint's is
/// 403, and a role at or above it gets past authorization (whatever the endpoint then answers; the targets are chosen
/// so that nothing another test relies on changes: unknown ids, an empty domain, the empty failed queue).
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class RoleMatrixTests(ApiSilo api)
{
    private const string UnknownMessage = "0123456789abcdef0123456789abcdef";
    private static readonly string[] Ladder = ["sender", "viewer", "operator", "admin"];

    public static TheoryData<string, string, string?, string, string> Cases()
    {
        (string Method, string Path, string? Body, string Role)[] endpoints =
        [
            ("GET", "/api/queue/stats", null, "viewer"),
            ("GET", "/api/queue/deferred", null, "viewer"),
            ("GET", $"/api/queue/message/{UnknownMessage}", null, "viewer"),
            ("GET", $"/api/queue/message/{UnknownMessage}/raw", null, "viewer"),
            ("POST", $"/api/queue/message/{UnknownMessage}/hold", null, "operator"),
            ("POST", $"/api/queue/message/{UnknownMessage}/release", null, "operator"),
            ("POST", $"/api/queue/message/{UnknownMessage}/retry", null, "operator"),
            ("PUT", $"/api/queue/message/{UnknownMessage}/priority", """{"priority":"high"}""", "operator"),
            ("DELETE", $"/api/queue/message/{UnknownMessage}", null, "operator"),
            ("POST", "/api/queue/failed/flush", null, "operator"),
            // A JSON body is not message/rfc822: past authorization it gets 415, and nothing is queued.
            ("POST", "/api/messages?from=matrix@sink.test&to=matrix@sink.test", "{}", "operator"),
            ("DELETE", "/api/queue/failed", null, "admin"),
            ("GET", "/api/domains/matrix.test", null, "viewer"),
            ("POST", "/api/domains/matrix.test/hold", null, "operator"),
            ("POST", "/api/domains/matrix.test/release", null, "operator"),
            ("POST", "/api/domains/matrix.test/retry", null, "operator"),
            ("PUT", "/api/domains/matrix.test/priority", """{"priority":"low"}""", "operator"),
            ("DELETE", "/api/domains/matrix.test", null, "operator"),
            ("GET", "/api/users", null, "admin"),
            ("POST", "/api/users", """{"name":"matrix-user","roles":["viewer"],"password":"matrix password"}""", "admin"),
            ("GET", "/api/users/nobody", null, "admin"),
            ("PUT", "/api/users/nobody", """{"roles":["viewer"]}""", "admin"),
            ("POST", "/api/users/nobody/password", "{}", "admin"),
            ("DELETE", "/api/users/nobody", null, "admin"),
            ("GET", "/api/apikeys", null, "admin"),
            ("POST", "/api/apikeys", """{"role":"viewer","name":"matrix"}""", "admin"),
            ("DELETE", "/api/apikeys/000000000000", null, "admin"),
            ("GET", "/api/audit", null, "viewer"),
            ("GET", "/api/cluster", null, "viewer"),
            ("GET", "/api/access-list", null, "viewer"),
            // A network with no entry: past authorization it is 404, and nothing changes.
            ("DELETE", "/api/access-list/203.0.113.99", null, "admin"),
        ];
        var data = new TheoryData<string, string, string?, string, string>();
        foreach (var (method, path, body, role) in endpoints)
        {
            foreach (var caller in Ladder.Prepend("anonymous"))
            {
                data.Add(method, path, body, role, caller);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Each_endpoint_admits_its_role_and_those_above_it(string method, string path, string? body, string role, string caller)
    {
        using var client = caller == "anonymous" ? api.Anonymous() : api.As(caller);
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, "application/json");
        }

        using var response = await client.SendAsync(request);

        if (caller == "anonymous")
        {
            await Problems.AssertProblemAsync(response, HttpStatusCode.Unauthorized);
        }
        else if (Array.IndexOf(Ladder, caller) < Array.IndexOf(Ladder, role))
        {
            await Problems.AssertProblemAsync(response, HttpStatusCode.Forbidden);
        }
        else
        {
            Assert.NotEqual(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.NotEqual(HttpStatusCode.Forbidden, response.StatusCode);
            Assert.True((int)response.StatusCode < 500, $"{method} {path} as {caller}: {(int)response.StatusCode} {await response.Content.ReadAsStringAsync()}");
        }
    }
}
