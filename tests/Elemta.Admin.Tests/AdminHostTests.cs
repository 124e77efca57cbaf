using System.Net;
using System.Text.RegularExpressions;
using Elemta.Silo.Tests;

namespace Elemta.Admin.Tests;

/// <summary>The admin app in the silo's host: its settings are checked at start, it can be off, and sign-ins survive a restart.</summary>
public sealed partial class AdminHostTests
{
    [Theory]
    [InlineData("--Elemta:Admin:RefreshInterval=00:00:00.001", "Elemta:Admin:RefreshInterval must be between")]
    [InlineData("--Elemta:Admin:SessionLifetime=45.00:00:00", "Elemta:Admin:SessionLifetime must be between")]
    [InlineData("--Elemta:Admin:Sesion=01:00:00", "Elemta:Admin:Sesion")]
    public async Task A_bad_admin_setting_stops_the_start_with_the_key_named(string setting, string message)
    {
        using var data = new TempDirectory();
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0", setting);

        Assert.Equal(2, code);
        Assert.Contains(message, output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task With_the_admin_app_off_only_the_rest_api_is_served()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string> { ["Elemta:Admin:Enabled"] = "false" });
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false }) { BaseAddress = silo.HttpUrl };

        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/login")).StatusCode);
        Assert.Equal(HttpStatusCode.NotFound, (await client.GetAsync("/dashboard/")).StatusCode);
        Assert.Equal(HttpStatusCode.Unauthorized, (await client.GetAsync("/api/queue/stats")).StatusCode);
    }

    [Fact]
    public async Task A_sign_in_survives_a_restart_of_the_silo()
    {
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string> { ["Elemta:Auth:PasswordIterations"] = "10000" };
        string cookie;
        await using (var first = await SiloProcess.StartAsync(data.Path, settings))
        {
            var password = (await Eventually.GetAsync(
                () => Task.FromResult(File.Exists(Path.Combine(data.Path, "initial-admin-password")) ? File.ReadAllText(Path.Combine(data.Path, "initial-admin-password")).Trim() : string.Empty),
                p => p.Length > 0, TimeSpan.FromSeconds(60), "the initial admin password")).Trim();

            // The login form as a browser posts it: the antiforgery token from the page, with its cookie.
            var jar = new CookieContainer();
            using var client = new HttpClient(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { BaseAddress = first.HttpUrl };
            var form = await client.GetStringAsync("/login");
            var token = Token().Match(form).Groups[1].Value;
            using var posted = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["_handler"] = "login",
                ["__RequestVerificationToken"] = WebUtility.HtmlDecode(token),
                ["Input.User"] = "admin",
                ["Input.Password"] = password,
            }));
            Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
            cookie = jar.GetCookies(first.HttpUrl)["elemta.admin"]?.Value ?? throw new InvalidOperationException("no session cookie");

            // Without the token the same post is refused: the form is protected against cross-site posts.
            using var forged = await client.PostAsync("/login", new FormUrlEncodedContent(new Dictionary<string, string>
            {
                ["_handler"] = "login",
                ["Input.User"] = "admin",
                ["Input.Password"] = password,
            }));
            Assert.Equal(HttpStatusCode.BadRequest, forged.StatusCode);
        }

        // The key ring is in grain storage (the SQLite database), no longer in files beside it.
        Assert.False(Directory.Exists(Path.Combine(data.Path, "keys")), "data-protection keys were written to {DataDirectory}/keys");
        await using var second = await SiloProcess.StartAsync(data.Path, settings);
        using var again = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = second.HttpUrl };
        using var request = new HttpRequestMessage(HttpMethod.Get, "/queues");
        request.Headers.Add("Cookie", $"elemta.admin={cookie}");
        using var response = await again.SendAsync(request);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);

        using var anonymous = await again.GetAsync("/queues");
        Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex Token();
}
