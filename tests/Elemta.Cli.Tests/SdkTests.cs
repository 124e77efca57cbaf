using System.Text;
using Elemta.Client;
using Elemta.Contracts;
using Elemta.Silo.Tests;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using MimeKit;
using MessagePriority = Elemta.Contracts.MessagePriority;

namespace Elemta.Cli.Tests;

/// <summary>The client SDK against a real silo: submit, list, act, watch; and the HTTP client with the same models.</summary>
[Collection(ClusterCollection.Name)]
public sealed class SdkTests(ClusterFixture cluster)
{
    [Fact]
    public async Task AddElemtaClient_submits_a_MimeMessage_lists_it_acts_on_it_and_watches_it_deliver()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Services.AddElemtaClient(o => o.GatewayPort = cluster.Silo.GatewayPort);
        using var host = builder.Build();
        await host.StartAsync();
        var client = host.Services.GetRequiredService<ElemtaClient>();

        // Deferred by the example.net sink: list, hold, release through the typed API.
        var message = new MimeMessage();
        message.From.Add(new MailboxAddress("SDK", "sdk@example.org"));
        message.To.Add(new MailboxAddress("", "waits@example.net"));
        message.Bcc.Add(new MailboxAddress("", "hidden@example.net"));
        message.Subject = "from the SDK";
        message.Body = new TextPart("plain") { Text = "hello" };
        var id = await client.SubmitAsync(message, priority: MessagePriority.High);
        var status = await client.GetMessageAsync(id);
        Assert.NotNull(status);
        Assert.Equal(["waits@example.net", "hidden@example.net"], status.Envelope.Recipients.ToArray());
        Assert.Equal(MessagePriority.High, status.Envelope.Priority);

        await ClusterFixture.EventuallyAsync(
            async () => await client.ListAsync(new QueueFilter(MessageQueueState.Deferred) { Sender = "sdk@example.org", PageSize = 1 }).AnyAsync(m => m.MessageId == id),
            found => found, "the SDK message listed as deferred (paged one at a time)");
        Assert.Equal(1, (await client.ApplyToMessageAsync(id, QueueAction.Hold)).Messages);
        Assert.Equal(MessageQueueState.Held, (await client.GetMessageAsync(id))!.State);
        Assert.NotEmpty(await client.GetAttemptsAsync(id));
        Assert.NotNull(await client.ExplainMessageAsync(id));
        await client.ApplyToMessageAsync(id, QueueAction.Delete);
        var missing = await Assert.ThrowsAsync<ElemtaException>(() => client.ApplyToMessageAsync(id, QueueAction.Hold));
        Assert.Equal(ElemtaErrorKind.NotFound, missing.Kind);

        // Accepted by the example.com sink: the watch ends with the delivered event; the Bcc field is not sent.
        var raw = Encoding.ASCII.GetBytes("From: sdk@example.org\r\nTo: done@example.com\r\nSubject: watch me\r\n\r\nbody\r\n");
        var watched = await client.SubmitAsync("sdk@example.org", ["done@example.com"], raw);
        var events = new List<DeliveryEvent>();
        using var timeout = new CancellationTokenSource(ClusterFixture.Timeout);
        await foreach (var change in client.WatchAsync(watched, TimeSpan.FromMilliseconds(100), timeout.Token))
        {
            events.Add(change);
        }

        Assert.True(events[^1].IsFinal);
        Assert.Equal(MessageQueueState.Delivered, events[^1].Status.State);
        var received = await cluster.Accepting.WaitForMessageAsync(m => m.Recipients.Contains("done@example.com"), ClusterFixture.Timeout);
        Assert.EndsWith("body\r\n", Encoding.ASCII.GetString(received.Data), StringComparison.Ordinal);
        await host.StopAsync();
    }

    [Fact]
    public async Task ConnectAsync_manages_users_and_api_keys_and_the_http_client_reads_the_same_models()
    {
        await using var client = await ElemtaClient.ConnectAsync(new ElemtaClientOptions { GatewayPort = cluster.Silo.GatewayPort });
        client.Credentials = new Elemta.Auth.CredentialOptions { PasswordIterations = 10_000 };
        var generated = await client.CreateUserAsync("sdk-user", [UserRole.Viewer], []);
        Assert.False(string.IsNullOrEmpty(generated));
        Assert.Equal(ElemtaErrorKind.Conflict, (await Assert.ThrowsAsync<ElemtaException>(() => client.CreateUserAsync("sdk-user", [UserRole.Viewer], [], "a long passphrase"))).Kind);
        var key = await client.CreateApiKeyAsync(UserRole.Admin, "sdk", TimeSpan.FromDays(1));
        Assert.Equal(ApiKeyState.Active, key.ApiKey.State);

        using var http = ElemtaHttpClient.WithApiKey(cluster.Silo.HttpUrl, key.Key);
        var overGateway = await client.GetUserAsync("sdk-user");
        var overHttp = await http.GetUserAsync("sdk-user");
        Assert.NotNull(overGateway);
        Assert.NotNull(overHttp);
        Assert.Equal(overGateway, overHttp with { Roles = overGateway.Roles, AllowedSenders = overGateway.AllowedSenders });
        Assert.Equal(overGateway.Roles.ToArray(), overHttp.Roles.ToArray());
        Assert.Contains(await http.ListApiKeysAsync(), k => k.Id == key.ApiKey.Id && k.Role == UserRole.Admin);
        Assert.Equal("Active", (await http.GetClusterAsync())[0].Status);
        var stats = await http.GetStatisticsAsync();
        Assert.True(stats.Messages.ContainsKey(MessageQueueState.Deferred));

        // Listing over HTTP pages with the API's cursor and gives the same messages as over the gateway.
        var id = await client.SubmitAsync("http@example.org", ["page@example.net"], Encoding.ASCII.GetBytes("Subject: page\r\n\r\nx\r\n"));
        await ClusterFixture.EventuallyAsync(() => http.ListAsync(new QueueFilter(MessageQueueState.Deferred) { PageSize = 1 }).AnyAsync(m => m.MessageId == id).AsTask(), f => f, "the message listed over HTTP");
        Assert.Equal(id, (await http.GetMessageAsync(id))!.Envelope.MessageId);
        Assert.Equal("Subject: page\r\n\r\nx\r\n", Encoding.ASCII.GetString((await http.GetRawMessageAsync(id))!));
        Assert.Equal(await client.GetRawMessageAsync(id), await http.GetRawMessageAsync(id));
        Assert.Equal(1, (await http.ApplyToMessageAsync(id, QueueAction.Delete)).Messages);
        Assert.Null(await http.GetMessageAsync(id));
        Assert.Equal(ElemtaErrorKind.NotFound, (await Assert.ThrowsAsync<ElemtaException>(() => http.ApplyToMessageAsync(id, QueueAction.Hold))).Kind);

        await http.DeleteUserAsync("sdk-user");
        Assert.Null(await client.GetUserAsync("sdk-user"));
        await client.RevokeApiKeyAsync(key.ApiKey.Id);
        Assert.Equal(ElemtaErrorKind.Unauthorized, (await Assert.ThrowsAsync<ElemtaException>(() => http.ListUsersAsync())).Kind);
    }

    [Fact]
    public async Task AddElemtaClient_from_configuration_connects_through_a_static_gateway_list()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Elemta:Client:Clustering"] = "StaticGateways",
            ["Elemta:Client:Gateways:0"] = $"localhost:{cluster.Silo.GatewayPort}",
        });
        builder.Services.AddElemtaClient(builder.Configuration.GetSection(ElemtaClientOptions.SectionName));
        using var host = builder.Build();
        await host.StartAsync();
        var client = host.Services.GetRequiredService<IElemtaClient>();
        Assert.Contains(await client.GetClusterAsync(), s => s.Status == "Active");
        Assert.Equal(ElemtaClustering.StaticGateways, host.Services.GetRequiredService<IOptions<ElemtaClientOptions>>().Value.Clustering);
        await host.StopAsync();
    }

    [Fact]
    public void AddElemtaClient_rejects_invalid_options_listing_every_problem()
    {
        var services = new ServiceCollection();
        var ex = Assert.Throws<OptionsValidationException>(() => services.AddElemtaClient(o =>
        {
            o.Clustering = ElemtaClustering.StaticGateways;
            o.Gateways.Add("no-port");
            o.ClusterId = "";
        }));
        Assert.Contains("ClusterId must not be empty.", ex.Failures);
        Assert.Contains("Gateways: 'no-port' is not host:port.", ex.Failures);
        Assert.Throws<OptionsValidationException>(() => new ServiceCollection().AddElemtaClient(o => o.Clustering = ElemtaClustering.PostgreSql));
    }
}
