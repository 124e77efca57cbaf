using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using Elemta.Silo.Tests;
using Elemta.Testing;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Playwright;
using MimeKit;

namespace Elemta.Admin.Tests;

/// <summary>
/// Two silo processes on one real PostgreSQL database, their Orleans ports behind mutual TLS, each serving the admin
/// plane on its own loopback port, and an <c>elemta web</c> process (an Orleans client with a certificate from the
/// same CA) serving it on a third; a headless Debian chromium. Mail for <c>held.test</c> goes to a port that refuses
/// connections, so it waits in the deferred queue for an hour.
/// </summary>
public sealed partial class WebCluster : IAsyncLifetime
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);

    private readonly TempDirectory _certificates = new();
    private readonly TempDirectory _dataA = new();
    private readonly TempDirectory _dataB = new();
    private readonly TestCertificateAuthority _authority = new("Elemta Web Test CA");
    private Socket _refusing = null!;
    private IPlaywright _playwright = null!;

    public SiloProcess A { get; private set; } = null!;

    public SiloProcess B { get; private set; } = null!;

    public WebProcess Web { get; private set; } = null!;

    public IBrowser Browser { get; private set; } = null!;

    public string AdminPassword { get; private set; } = null!;

    /// <summary>What every process of the cluster is configured with (the web process's certificate aside).</summary>
    public Dictionary<string, string> Settings { get; } = new();

    public async Task InitializeAsync()
    {
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("webcluster");
        _refusing = RefusingEndPoint.Bind(IPAddress.Loopback);
        var caPath = Path.Combine(_certificates.Path, "ca.crt");
        _authority.WriteRootPem(caPath);
        foreach (var name in new[] { "silo-a", "silo-b", "web" })
        {
            using var certificate = _authority.IssuePeerCertificate(name + ".elemta.test");
            TestCertificateAuthority.WritePemFiles(certificate, _certificates.Path, name);
        }

        Settings["Elemta:Storage:Provider"] = "PostgreSQL";
        Settings["Elemta:Storage:ConnectionString"] = connectionString;
        Settings["Elemta:Cluster:ClusterId"] = "web-" + Guid.NewGuid().ToString("N")[..8];
        Settings["Elemta:Cluster:Tls:CaPath"] = caPath;
        Settings["Elemta:Cluster:Tls:Required"] = "true";
        Settings["Elemta:Auth:PasswordIterations"] = "10000";
        Settings["Elemta:RateLimit:AuthFailuresPerIp:Capacity"] = "100000";
        Settings["Elemta:RateLimit:AuthFailuresPerIp:PerSecond"] = "1";
        Settings["Logging:LogLevel:Default"] = "Warning";
        Settings["Logging:LogLevel:Elemta"] = "Information";
        Settings["Logging:LogLevel:Microsoft.AspNetCore.DataProtection"] = "Information";

        var silo = new Dictionary<string, string>(Settings)
        {
            ["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1",
            ["Elemta:Delivery:Routes:held.test"] = $"127.0.0.1:{RefusingEndPoint.PortOf(_refusing)}",
            ["Elemta:Delivery:MtaSts:Enabled"] = "false",
            ["Elemta:Delivery:Dane:Enabled"] = "false",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
            ["Elemta:Queue:CircuitBreakerThreshold"] = "0",
            ["Elemta:Admin:RefreshInterval"] = "00:00:01",
        };

        // Started together, as a fresh cluster often is: on the empty key ring both make a key, and the grain keeps one.
        var a = SiloProcess.StartAsync(_dataA.Path, WithCertificate(silo, "silo-a"));
        var b = SiloProcess.StartAsync(_dataB.Path, WithCertificate(silo, "silo-b"));
        try
        {
            A = await a;
            B = await b;
        }
        catch
        {
            await Task.WhenAll(DisposeStarted(a), DisposeStarted(b));
            throw;
        }

        var files = new[] { _dataA, _dataB }.Select(d => Path.Combine(d.Path, "initial-admin-password")).ToArray();
        AdminPassword = await Eventually.GetAsync(
            () => Task.FromResult(files.Where(File.Exists).Select(f => File.ReadAllText(f).Trim()).FirstOrDefault() ?? string.Empty),
            p => p.Length > 0, Timeout, "the initial admin password");

        // Both silos active in one cluster, as each of them sees it.
        foreach (var node in new[] { A, B })
        {
            using var admin = Basic(node.HttpUrl);
            await Eventually.GetAsync(
                async () => (await admin.GetFromJsonAsync<JsonElement>("/api/cluster")).GetProperty("silos").EnumerateArray().Count(s => s.GetProperty("status").GetString() == "Active"),
                n => n == 2, Timeout, "two active silos");
        }

        Web = await WebProcess.StartAsync(WithCertificate(Settings, "web"));

        _playwright = await Playwright.CreateAsync();
        Browser = await _playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = "/usr/bin/chromium",
            Headless = true,
            Args = ["--no-sandbox"],
        });
    }

    public Dictionary<string, string> WithCertificate(IDictionary<string, string> settings, string name) =>
        new(settings)
        {
            ["Elemta:Cluster:Tls:CertificatePath"] = Path.Combine(_certificates.Path, name + ".crt"),
            ["Elemta:Cluster:Tls:KeyPath"] = Path.Combine(_certificates.Path, name + ".key"),
        };

    /// <summary>An HTTP client for the REST API at <paramref name="baseUrl"/>, signed in as the initial admin (HTTP Basic).</summary>
    public HttpClient Basic(Uri baseUrl)
    {
        var client = new HttpClient { BaseAddress = baseUrl, Timeout = Timeout };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{AdminPassword}")));
        return client;
    }

    /// <summary>
    /// Signs in to the admin app at <paramref name="baseUrl"/> as a browser's form post does (the antiforgery token
    /// from the login page, with its cookie) and returns the session cookie's value.
    /// </summary>
    public async Task<string> SignInAsync(Uri baseUrl)
    {
        var jar = new CookieContainer();
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { BaseAddress = baseUrl, Timeout = Timeout };
        var form = await client.GetStringAsync("/login");
        using var posted = await client.PostAsync("/login", LoginForm(form));
        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        return jar.GetCookies(baseUrl)["elemta.admin"]?.Value ?? throw new InvalidOperationException("no session cookie");
    }

    /// <summary>The login form's fields, with the antiforgery token read from <paramref name="page"/>.</summary>
    public FormUrlEncodedContent LoginForm(string page) => new(new Dictionary<string, string>
    {
        ["_handler"] = "login",
        ["__RequestVerificationToken"] = WebUtility.HtmlDecode(Token().Match(page).Groups[1].Value),
        ["Input.User"] = "admin",
        ["Input.Password"] = AdminPassword,
    });

    /// <summary>GET <paramref name="path"/> at <paramref name="baseUrl"/> with only the session cookie <paramref name="cookie"/>.</summary>
    public static async Task<HttpResponseMessage> GetWithCookieAsync(Uri baseUrl, string path, string cookie)
    {
        using var client = new HttpClient(new HttpClientHandler { AllowAutoRedirect = false, UseCookies = false }) { BaseAddress = baseUrl, Timeout = Timeout };
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Add("Cookie", $"elemta.admin={cookie}");
        return await client.SendAsync(request);
    }

    /// <summary>Sends a message to <paramref name="silo"/> over SMTP and returns its queue id.</summary>
    public static async Task<string> SendAsync(SiloProcess silo, string sender, string recipient, string subject)
    {
        using var message = new MimeMessage();
        message.From.Add(MailboxAddress.Parse(sender));
        message.To.Add(MailboxAddress.Parse(recipient));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "Waiting on purpose." };
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", silo.SmtpPort, SecureSocketOptions.None);
        var reply = await client.SendAsync(message);
        await client.DisconnectAsync(true);
        var id = QueuedAs().Match(reply);
        Assert.True(id.Success, $"no queue id in '{reply}'");
        return id.Groups[1].Value;
    }

    public async Task DisposeAsync()
    {
        if (Browser is not null)
        {
            await Browser.CloseAsync();
        }

        _playwright?.Dispose();
        if (Web is not null)
        {
            await Web.DisposeAsync();
        }

        await Task.WhenAll(DisposeStarted(Task.FromResult(A)), DisposeStarted(Task.FromResult(B)));
        _refusing?.Dispose();
        _authority.Dispose();
        _dataA.Dispose();
        _dataB.Dispose();
        _certificates.Dispose();
    }

    private static async Task DisposeStarted(Task<SiloProcess> start)
    {
        if (start.IsCompletedSuccessfully && start.Result is not null)
        {
            await start.Result.DisposeAsync();
        }
    }

    [GeneratedRegex("name=\"__RequestVerificationToken\" value=\"([^\"]+)\"")]
    private static partial Regex Token();

    [GeneratedRegex("queued as ([0-9a-f]{32})")]
    private static partial Regex QueuedAs();
}

[CollectionDefinition(Name)]
public sealed class WebClusterCollection : ICollectionFixture<WebCluster>
{
    public const string Name = "web-cluster";
}
