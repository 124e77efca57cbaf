using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Reflection;
using System.Text;
using System.Text.RegularExpressions;
using Elemta.Silo.Tests;
using Elemta.Testing;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Playwright;
using MimeKit;

namespace Elemta.Admin.Tests;

/// <summary>
/// One real silo process with the admin app on a loopback port, and one headless Debian chromium driven by
/// Playwright, shared by the browser tests (they run one after another in the <see cref="AdminCollection"/>). Mail for
/// <c>deferred.test</c> goes to a port that refuses connections, so it waits in the deferred queue for an hour.
/// </summary>
public sealed partial class AdminSilo : IAsyncLifetime
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>A viewer account the fixture creates through the REST API.</summary>
    public const string ViewerName = "watcher";

    public const string ViewerPassword = "watcher-password-1";

    private readonly TempDirectory _data = new();
    private Socket _refusing = null!;
    private IPlaywright _playwright = null!;

    public SiloProcess Silo { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public string AdminPassword { get; private set; } = null!;

    /// <summary>Where screenshots go: TestResults/screenshots in the repository.</summary>
    public static string ScreenshotDirectory { get; } = Path.GetFullPath(Path.Combine(
        typeof(AdminSilo).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == "RepositoryRoot").Value!, "TestResults", "screenshots"));

    public async Task InitializeAsync()
    {
        _refusing = RefusingEndPoint.Bind(IPAddress.Loopback);
        Silo = await SiloProcess.StartAsync(_data.Path, new Dictionary<string, string>
        {
            ["Elemta:Auth:PasswordIterations"] = "10000",
            ["Elemta:Delivery:Routes:deferred.test"] = $"127.0.0.1:{RefusingEndPoint.PortOf(_refusing)}",
            ["Elemta:Delivery:MtaSts:Enabled"] = "false",
            ["Elemta:Delivery:Dane:Enabled"] = "false",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
            ["Elemta:Queue:CircuitBreakerThreshold"] = "0",
            ["Elemta:RateLimit:AuthFailuresPerIp:Capacity"] = "100000",
            ["Elemta:RateLimit:AuthFailuresPerIp:PerSecond"] = "1",
            ["Elemta:Admin:RefreshInterval"] = "00:00:01",
        });

        var passwordFile = Path.Combine(_data.Path, "initial-admin-password");
        AdminPassword = (await Eventually.GetAsync(
            () => Task.FromResult(File.Exists(passwordFile) ? File.ReadAllText(passwordFile).Trim() : string.Empty),
            p => p.Length > 0, Timeout, "the initial admin password")).Trim();

        using (var admin = Basic("admin", AdminPassword))
        {
            using var response = await admin.PostAsJsonAsync("/api/users", new { name = ViewerName, roles = new[] { "viewer" }, password = ViewerPassword });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        }

        Directory.CreateDirectory(ScreenshotDirectory);
        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,

            // Root in a container has no user namespaces for chromium's sandbox.
            Args = ["--no-sandbox"],
        });
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        await Silo.DisposeAsync();
        _refusing.Dispose();
        _data.Dispose();
    }

    /// <summary>A fresh browser context (its own cookies) on the silo's admin app.</summary>
    public Task<IBrowserContext> NewContextAsync(int width = 1280, int height = 900) =>
        Browser.NewContextAsync(new BrowserNewContextOptions { BaseURL = Silo.HttpUrl.ToString(), ViewportSize = new ViewportSize { Width = width, Height = height } });

    /// <summary>Signs in through the login page, starting at <paramref name="path"/>, and waits to leave it.</summary>
    public static async Task<IPage> SignInAsync(IBrowserContext context, string user, string password, string path = "/")
    {
        var page = await context.NewPageAsync();
        page.SetDefaultTimeout((float)Timeout.TotalMilliseconds);
        await page.GotoAsync(path);
        await page.WaitForURLAsync(new Regex("/login"));
        await page.GetByLabel("Account").FillAsync(user);
        await page.GetByLabel("Password").FillAsync(password);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(u => !u.Contains("/login", StringComparison.Ordinal));
        return page;
    }

    /// <summary>An HTTP client signing in to the REST API with HTTP Basic.</summary>
    public HttpClient Basic(string user, string password)
    {
        var client = new HttpClient { BaseAddress = Silo.HttpUrl, Timeout = Timeout };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return client;
    }

    /// <summary>Sends a message over SMTP (MailKit) and returns its queue id from the 250 reply.</summary>
    public async Task<string> SendAsync(string sender, string recipient, string subject, string body = "Hello from the admin tests.")
    {
        using var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(sender));
        message.To.Add(MailboxAddress.Parse(recipient));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = body };
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", Silo.SmtpPort, SecureSocketOptions.None);
        var reply = await client.SendAsync(message);
        await client.DisconnectAsync(true);
        var id = QueuedAs().Match(reply);
        Assert.True(id.Success, $"no queue id in '{reply}'");
        return id.Groups[1].Value;
    }

    /// <summary>Saves a full-page screenshot under TestResults/screenshots.</summary>
    public static Task ScreenshotAsync(IPage page, string name) =>
        page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotDirectory, name + ".png"), FullPage = true });

    /// <summary>Polls the REST API until message <paramref name="id"/> is in <paramref name="state"/>.</summary>
    public async Task WaitForStateAsync(string id, string state)
    {
        using var admin = Basic("admin", AdminPassword);
        await Eventually.GetAsync(
            async () =>
            {
                using var response = await admin.GetAsync($"/api/queue/message/{id}");
                return response.IsSuccessStatusCode ? (await response.Content.ReadFromJsonAsync<System.Text.Json.JsonElement>()).GetProperty("state").GetString() : null;
            },
            s => s == state, Timeout, $"message {id} to be {state}");
    }

    [GeneratedRegex("queued as ([0-9a-f]{32})")]
    private static partial Regex QueuedAs();
}

[CollectionDefinition(Name)]
public sealed class AdminCollection : ICollectionFixture<AdminSilo>
{
    public const string Name = "admin";
}
