using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Elemta.Client;
using Elemta.Contracts;
using Elemta.Silo.Tests;
using Elemta.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Elemta.Api.Tests;

/// <summary>
/// One real silo process serving the API on a loopback port, shared by the API tests (they run one after another in
/// the <see cref="ApiCollection"/>): an admin signed in with the first start's password, an API key per role, an SMTP
/// sink that accepts everything for <c>sink.test</c>, a refusing port for <c>deferred.test</c> (its messages stay
/// deferred for an hour), and an Orleans client for what the API does not do (an expired key) and for submitting mail by the gateway.
/// </summary>
public sealed class ApiSilo : IAsyncLifetime
{
    public static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>Failures that lock one account out of Basic (and SMTP AUTH); the per-address bucket is made large so the rest of the tests are not locked out.</summary>
    public const int FailuresPerUser = 3;

    /// <summary>The silo's Elemta:Smtp:MaxMessageSize, which POST /api/messages enforces too.</summary>
    public const int MaxMessageSize = 256 * 1024;

    private readonly TempDirectory _data = new();
    private readonly SocketsHttpHandler _handler = new() { PooledConnectionLifetime = TimeSpan.FromMinutes(5) };
    private Socket _refusing = null!;
    private IHost _orleans = null!;

    public SiloProcess Silo { get; private set; } = null!;

    public SmtpSink Sink { get; private set; } = null!;

    public IGrainFactory Grains { get; private set; } = null!;

    public ElemtaClient Client { get; private set; } = null!;

    public string AdminPassword { get; private set; } = null!;

    /// <summary>Keys by role name (<c>viewer</c>, <c>operator</c>, <c>admin</c>, <c>sender</c>).</summary>
    public Dictionary<string, (string Id, string Key)> Keys { get; } = [];

    public async Task InitializeAsync()
    {
        Sink = SmtpSink.Start(IPAddress.Loopback);
        _refusing = RefusingEndPoint.Bind(IPAddress.Loopback);
        Silo = await SiloProcess.StartAsync(_data.Path, new Dictionary<string, string>
        {
            ["Elemta:Auth:PasswordIterations"] = "10000",
            // Small, so the submission tests can send one octet too many without 25 MiB of traffic.
            ["Elemta:Smtp:MaxMessageSize"] = MaxMessageSize.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Elemta:Delivery:Routes:sink.test"] = $"127.0.0.1:{Sink.Port}",
            ["Elemta:Delivery:Routes:deferred.test"] = $"127.0.0.1:{RefusingEndPoint.PortOf(_refusing)}",
            ["Elemta:Delivery:MtaSts:Enabled"] = "false",
            ["Elemta:Delivery:Dane:Enabled"] = "false",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
            ["Elemta:Queue:CircuitBreakerThreshold"] = "0",
            ["Elemta:RateLimit:AuthFailuresPerIp:Capacity"] = "100000",
            ["Elemta:RateLimit:AuthFailuresPerIp:PerSecond"] = "1",
            ["Elemta:RateLimit:AuthFailuresPerUser:Capacity"] = FailuresPerUser.ToString(System.Globalization.CultureInfo.InvariantCulture),
            ["Elemta:RateLimit:AuthFailuresPerUser:PerSecond"] = "0.0001",
        });

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client => client.UseLocalhostClustering(Silo.GatewayPort, "elemta", "elemta"));
        _orleans = builder.Build();
        await _orleans.StartAsync();
        Grains = _orleans.Services.GetRequiredService<IGrainFactory>();
        Client = new ElemtaClient(Grains);

        // The first start writes the admin's password beside the database, shortly after it starts.
        var passwordFile = Path.Combine(_data.Path, "initial-admin-password");
        AdminPassword = (await Eventually.GetAsync(
            () => Task.FromResult(File.Exists(passwordFile) ? File.ReadAllText(passwordFile).Trim() : string.Empty),
            p => p.Length > 0, Timeout, "the initial admin password")).Trim();

        using var admin = Basic("admin", AdminPassword);
        foreach (var role in new[] { "viewer", "operator", "admin", "sender" })
        {
            using var response = await admin.PostAsJsonAsync("/api/apikeys", new { role, name = $"tests ({role})" });
            Assert.Equal(HttpStatusCode.Created, response.StatusCode);
            var created = await response.Content.ReadFromJsonAsync<JsonElement>();
            Keys[role] = (created.GetProperty("apiKey").GetProperty("id").GetString()!, created.GetProperty("key").GetString()!);
        }
    }

    public async Task DisposeAsync()
    {
        await Silo.DisposeAsync();
        try
        {
            await _orleans.StopAsync(new CancellationTokenSource(TimeSpan.FromSeconds(5)).Token);
        }
        catch (OperationCanceledException)
        {
            // The silo is gone already; the client's goodbye cannot be answered.
        }

        _orleans.Dispose();
        await Sink.DisposeAsync();
        _refusing.Dispose();
        _handler.Dispose();
        _data.Dispose();
    }

    /// <summary>A client without credentials.</summary>
    public HttpClient Anonymous() => new(_handler, disposeHandler: false) { BaseAddress = Silo.HttpUrl, Timeout = Timeout };

    /// <summary>A client presenting <paramref name="role"/>'s API key.</summary>
    public HttpClient As(string role) => Bearer(Keys[role].Key);

    /// <summary>A client presenting <paramref name="key"/> as a bearer token.</summary>
    public HttpClient Bearer(string key)
    {
        var client = Anonymous();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
        return client;
    }

    /// <summary>A client signing in with HTTP Basic.</summary>
    public HttpClient Basic(string user, string password)
    {
        var client = Anonymous();
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return client;
    }

    /// <summary>Queues a small message through the client SDK and returns its id.</summary>
    public Task<string> SubmitAsync(string sender, string recipient, string subject = "test") =>
        Client.SubmitAsync(sender, [recipient], Encoding.ASCII.GetBytes(
            $"From: <{sender}>\r\nTo: <{recipient}>\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@elemta.test>\r\n\r\nHello\r\n"));

    /// <summary>Polls the API until the message is in <paramref name="state"/>.</summary>
    public async Task WaitForStateAsync(string id, string state)
    {
        using var viewer = As("viewer");
        await Eventually.GetAsync(
            async () =>
            {
                using var response = await viewer.GetAsync($"/api/queue/message/{id}");
                return response.IsSuccessStatusCode ? (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("state").GetString() : null;
            },
            s => s == state, Timeout, $"message {id} to be {state}");
    }
}

[CollectionDefinition(Name)]
public sealed class ApiCollection : ICollectionFixture<ApiSilo>
{
    public const string Name = "api";
}
