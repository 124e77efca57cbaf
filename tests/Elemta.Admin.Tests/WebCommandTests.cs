using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Elemta.Testing;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Elemta.Admin.Tests;

/// <summary>
/// <c>elemta web --listen</c>: the admin plane as its own process, an Orleans client (mutual TLS, PostgreSQL
/// membership) of a cluster whose silos serve HTTP on other ports; it shares their key ring.
/// </summary>
[Collection(WebClusterCollection.Name)]
public sealed class WebCommandTests(WebCluster cluster)
{
    [Fact]
    public async Task After_a_browser_sign_in_the_web_process_shows_a_message_queued_on_a_silo()
    {
        var sender = $"web-{Guid.NewGuid():N}@example.org";
        var id = await WebCluster.SendAsync(cluster.B, sender, "carol@held.test", "Waiting for the web process");

        await using var context = await cluster.Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = cluster.Web.HttpUrl.ToString() });
        var page = await AdminSilo.SignInAsync(context, "admin", cluster.AdminPassword, "/queues/deferred");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Queues" })).ToBeVisibleAsync(new() { Timeout = (float)WebCluster.Timeout.TotalMilliseconds });
        var row = page.Locator("tr", new() { HasText = id });
        await Expect(row).ToBeVisibleAsync(new() { Timeout = (float)WebCluster.Timeout.TotalMilliseconds });
        await Expect(row).ToContainTextAsync(sender);
        await AdminSilo.ScreenshotAsync(page, "web-process-queues-deferred");

        // The dashboard is served by the web process too, behind the same sign-in.
        var counters = await context.APIRequest.GetAsync("/dashboard/DashboardCounters");
        Assert.Equal(200, counters.Status);
    }

    [Fact]
    public async Task The_web_process_answers_the_rest_api_with_an_api_key()
    {
        string key;
        using (var admin = cluster.Basic(cluster.Web.HttpUrl))
        {
            using var created = await admin.PostAsJsonAsync("/api/apikeys", new { role = "viewer", name = "web process test" });
            Assert.Equal(HttpStatusCode.Created, created.StatusCode);
            key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString()!;
        }

        using var client = new HttpClient { BaseAddress = cluster.Web.HttpUrl, Timeout = WebCluster.Timeout };
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/queue/stats")).StatusCode);
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        using var stats = await client.GetAsync("/api/queue/stats");
        Assert.Equal(HttpStatusCode.OK, stats.StatusCode);
        Assert.True((await stats.Content.ReadFromJsonAsync<JsonElement>()).TryGetProperty("messages", out _));

        // The same key works on a silo: the key is the cluster's, not the process's.
        using var onSilo = new HttpClient { BaseAddress = cluster.A.HttpUrl, Timeout = WebCluster.Timeout };
        onSilo.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        Assert.Equal(HttpStatusCode.OK, (await onSilo.GetAsync("/api/cluster")).StatusCode);
    }

    [Fact]
    public async Task A_sign_in_on_the_web_process_is_accepted_by_a_silo_and_the_other_way()
    {
        var fromWeb = await cluster.SignInAsync(cluster.Web.HttpUrl);
        using (var onSilo = await WebCluster.GetWithCookieAsync(cluster.A.HttpUrl, "/queues", fromWeb))
        {
            Assert.Equal(HttpStatusCode.OK, onSilo.StatusCode);
        }

        var fromSilo = await cluster.SignInAsync(cluster.B.HttpUrl);
        using var onWeb = await WebCluster.GetWithCookieAsync(cluster.Web.HttpUrl, "/queues", fromSilo);
        Assert.Equal(HttpStatusCode.OK, onWeb.StatusCode);
    }

    [Fact]
    public async Task The_web_process_is_ready_while_the_cluster_answers_and_exports_its_own_metrics()
    {
        using var client = new HttpClient { BaseAddress = cluster.Web.HttpUrl, Timeout = WebCluster.Timeout };
        using var ready = await client.GetAsync("/health/ready");
        var text = await ready.Content.ReadAsStringAsync();
        Assert.Equal(HttpStatusCode.OK, ready.StatusCode);
        Assert.Contains("cluster: Healthy (2 active silo(s) answer)", text, StringComparison.Ordinal);

        var metrics = await client.GetStringAsync("/metrics");
        Assert.Contains("service_name=\"elemta-web\"", metrics, StringComparison.Ordinal);
        Assert.Contains("http_server_request_duration_seconds", metrics, StringComparison.Ordinal);
        Assert.Matches(new Regex("an Orleans client of cluster 'web-[0-9a-f]{8}' through the PostgreSQL membership table, mutual TLS"), cluster.Web.Output);
    }
}

/// <summary><c>elemta web</c>'s errors, each one line with its exit code (docs/cli.md).</summary>
public sealed class WebCommandErrorTests
{
    [Fact]
    public async Task Web_has_help()
    {
        var (code, output) = await WebProcess.RunToExitAsync("web", "--help");

        Assert.Equal(0, code);
        Assert.Contains("Usage:", output, StringComparison.Ordinal);
        Assert.Contains("--listen <address:port>", output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("nonsense", "--listen: 'nonsense' is not an address:port")]
    [InlineData("127.0.0.1:99999", "--listen: '127.0.0.1:99999' is not an address:port")]
    [InlineData("https://127.0.0.1:8443", "only http:// is served")]
    public async Task A_bad_listen_address_is_a_usage_error(string listen, string message)
    {
        var (code, output) = await WebProcess.RunToExitAsync("web", "--listen", listen);

        Assert.Equal(2, code);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_missing_cluster_certificate_is_a_configuration_error_naming_its_key()
    {
        var (code, output) = await WebProcess.RunToExitAsync("web", "--listen", $"127.0.0.1:{FreePort.GetTcpPort()}",
            "--Elemta:Cluster:Tls:CertificatePath=/nonexistent/web.crt", "--Elemta:Cluster:Tls:CaPath=/nonexistent/ca.crt");

        Assert.Equal(2, code);
        Assert.Contains("elemta: configuration error: Elemta:Cluster:Tls:", output, StringComparison.Ordinal);
        Assert.Contains("/nonexistent/", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_reachable_cluster_the_web_process_exits_4()
    {
        var (code, output) = await WebProcess.RunToExitAsync("web", "--listen", $"127.0.0.1:{FreePort.GetTcpPort()}", $"--Elemta:Cluster:GatewayPort={FreePort.GetTcpPort()}");

        Assert.Equal(4, code);
        Assert.Contains("elemta: web: cannot reach the cluster (cluster 'elemta' through the gateway at 127.0.0.1:", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task When_the_membership_database_does_not_answer_the_web_process_exits_4()
    {
        var (code, output) = await WebProcess.RunToExitAsync("web", "--listen", $"127.0.0.1:{FreePort.GetTcpPort()}", "--Elemta:Storage:Provider=PostgreSQL",
            $"--Elemta:Storage:ConnectionString=Host=127.0.0.1;Port={FreePort.GetTcpPort()};Database=elemta;Username=elemta;Timeout=2");

        Assert.Equal(4, code);
        Assert.Contains("elemta: web: cannot reach the cluster (cluster 'elemta' through the PostgreSQL membership table)", output, StringComparison.Ordinal);
    }
}

/// <summary><c>elemta web</c> in front of a single node (SQLite, the gateway on loopback) whose own HTTP is off.</summary>
public sealed class WebSingleNodeTests
{
    [Fact]
    public async Task The_web_process_serves_the_admin_plane_of_a_silo_whose_http_is_off()
    {
        using var data = new Elemta.Silo.Tests.TempDirectory();
        await using var silo = await Elemta.Silo.Tests.SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Http:Enabled"] = "false",
            ["Elemta:Auth:PasswordIterations"] = "10000",
        });
        var password = await Elemta.Silo.Tests.Eventually.GetAsync(
            () => Task.FromResult(File.Exists(Path.Combine(data.Path, "initial-admin-password")) ? File.ReadAllText(Path.Combine(data.Path, "initial-admin-password")).Trim() : string.Empty),
            p => p.Length > 0, WebCluster.Timeout, "the initial admin password");

        await using var web = await WebProcess.StartAsync(new Dictionary<string, string> { ["Elemta:Cluster:GatewayPort"] = silo.GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture) });
        Assert.Contains("through the gateway at 127.0.0.1:" + silo.GatewayPort.ToString(System.Globalization.CultureInfo.InvariantCulture), web.Output, StringComparison.Ordinal);

        using var admin = new HttpClient { BaseAddress = web.HttpUrl, Timeout = WebCluster.Timeout };
        admin.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(System.Text.Encoding.UTF8.GetBytes($"admin:{password}")));
        var cluster = await admin.GetFromJsonAsync<JsonElement>("/api/cluster");
        Assert.Equal("Active", Assert.Single(cluster.GetProperty("silos").EnumerateArray()).GetProperty("status").GetString());

        // The login form, as a browser posts it, signs in through the web process.
        var jar = new CookieContainer();
        using var browser = new HttpClient(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { BaseAddress = web.HttpUrl, Timeout = WebCluster.Timeout };
        var form = await browser.GetStringAsync("/login");
        var token = Regex.Match(form, "name=\"__RequestVerificationToken\" value=\"([^\"]+)\"").Groups[1].Value;
        using var posted = await browser.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
        {
            ["_handler"] = "login",
            ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token),
            ["Input.User"] = "admin",
            ["Input.Password"] = password,
        }));
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        using var queues = await browser.GetAsync("/queues");
        Assert.Equal(HttpStatusCode.OK, queues.StatusCode);
    }
}
