using System.Net;
using System.Net.Sockets;
using System.Text;
using Elemta.Client;
using Elemta.Contracts;
using Elemta.Testing;
using Microsoft.Extensions.Options;

namespace Elemta.Cli.Tests;

/// <summary>
/// The same scenario through both SDK clients against the running silo — the gateway's <see cref="ElemtaClient"/> and
/// the REST API's <see cref="ElemtaHttpClient"/> — so each operation of <see cref="IElemtaClient"/> is exercised on both
/// paths; then the HTTP client's and the gateway client's failure paths against real sockets.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class ClientParityTests(ClusterFixture cluster)
{
    private static byte[] Raw(string subject) => Encoding.ASCII.GetBytes($"From: <parity@example.org>\r\nSubject: {subject}\r\n\r\nparity\r\n");

    [Theory]
    [InlineData("gateway")]
    [InlineData("http")]
    public async Task Each_client_submits_explains_acts_lists_watches_and_manages_accounts_and_keys(string via)
    {
        await using var gateway = await ElemtaClient.ConnectAsync(new ElemtaClientOptions { GatewayPort = cluster.Silo.GatewayPort });
        gateway.Credentials = new Elemta.Auth.CredentialOptions { PasswordIterations = 10_000 };
        using var http = ElemtaHttpClient.WithAccount(cluster.Silo.HttpUrl, "admin", cluster.AdminPassword);
        IElemtaClient client = via == "gateway" ? gateway : http;
        var tag = $"{via}-{Guid.NewGuid():N}"[..16];

        // A message the example.net sink defers: it waits, with attempts and an explanation.
        var sender = $"{tag}@example.org";
        var id = await client.SubmitAsync(sender, [$"waits-{tag}@example.net"], Raw(tag), MessagePriority.Low);
        var attempts = await ClusterFixture.EventuallyAsync(() => client.GetAttemptsAsync(id), a => a.Length > 0, "a first attempt");
        Assert.Equal("example.net", attempts[0].Domain);
        Assert.Contains("4.3.0", attempts[0].Attempt.Results[0].Reply, StringComparison.Ordinal);
        var explanation = await client.ExplainMessageAsync(id);
        Assert.NotNull(explanation);
        Assert.Equal(id, explanation.Status.Envelope.MessageId);
        Assert.False(string.IsNullOrEmpty(explanation.Summary));
        Assert.Equal("example.net", (await client.ExplainDomainAsync("example.net")).Domain);

        // Listed with every filter, in both orders and in small pages.
        Assert.Contains(await client.ListAsync(new QueueFilter(MessageQueueState.Deferred) { Sender = sender, PageSize = 1 }).ToListAsync(), m => m.MessageId == id);
        Assert.Contains(await client.ListAsync(new QueueFilter(MessageQueueState.Deferred) { Domain = "example.net", Newest = true, PageSize = 2 }).ToListAsync(), m => m.MessageId == id);
        Assert.True((await client.GetStatisticsAsync(topDomains: 1)).Domains.Length <= 1);

        // Acted on: one message, its domain, its state.
        Assert.Equal(1, (await client.ApplyToMessageAsync(id, QueueAction.Hold)).Messages);
        Assert.Contains(await client.ListAsync(new QueueFilter(MessageQueueState.Held) { Sender = sender }).ToListAsync(), m => m.MessageId == id);
        Assert.Equal(1, (await client.ApplyToMessageAsync(id, QueueAction.Release)).Messages);
        Assert.True((await client.ApplyToMessageAsync(id, QueueAction.RetryNow)).Messages >= 0); // 0 when the release already made it due and an attempt runs
        Assert.True((await client.ApplyToDomainAsync("example.net", QueueAction.Hold)).Messages >= 0);
        Assert.True((await client.ApplyToDomainAsync("example.net", QueueAction.Release)).Messages >= 0);
        Assert.True((await client.ApplyToDomainAsync("example.net", QueueAction.RetryNow)).Messages >= 0);
        Assert.True((await client.ApplyToStateAsync(MessageQueueState.Deferred, QueueAction.RetryNow)).Messages >= 0);
        Assert.Equal(1, (await client.ApplyToMessageAsync(id, QueueAction.Delete)).Messages);
        Assert.Equal(ElemtaErrorKind.NotFound, (await Assert.ThrowsAsync<ElemtaException>(() => client.ApplyToMessageAsync(id, QueueAction.Hold))).Kind);
        Assert.Null(await client.ExplainMessageAsync(id));
        Assert.Empty(await client.GetAttemptsAsync(id));

        // A message the example.com sink accepts, watched to its end.
        var delivered = await client.SubmitAsync(sender, [$"done-{tag}@example.com"], Raw(tag + " watched"));
        using var watch = new CancellationTokenSource(ClusterFixture.Timeout);
        var events = new List<DeliveryEvent>();
        await foreach (var change in client.WatchAsync(delivered, TimeSpan.FromMilliseconds(100), watch.Token))
        {
            events.Add(change);
        }

        Assert.Equal(MessageQueueState.Delivered, events[^1].Status.State);
        Assert.Equal(ElemtaErrorKind.Conflict, (await Assert.ThrowsAsync<ElemtaException>(() => client.ApplyToMessageAsync(delivered, QueueAction.Hold))).Kind);

        // Accounts: create with a generated password, change it both ways, change roles, list, delete.
        var user = $"{tag}@example.org";
        Assert.False(string.IsNullOrEmpty(await client.CreateUserAsync(user, [UserRole.Sender], ["@example.org"])));
        Assert.False(string.IsNullOrEmpty(await client.SetPasswordAsync(user)));
        Assert.Null(await client.SetPasswordAsync(user, "a long passphrase"));
        await client.UpdateUserAsync(user, [UserRole.Viewer], []);
        var changed = await client.GetUserAsync(user);
        Assert.Equal([UserRole.Viewer], changed!.Roles.ToArray());
        Assert.Empty(changed.AllowedSenders);
        Assert.Contains(await client.ListUsersAsync(), u => u.Name == user);
        await client.DeleteUserAsync(user);
        Assert.Null(await client.GetUserAsync(user));
        Assert.Equal(ElemtaErrorKind.NotFound, (await Assert.ThrowsAsync<ElemtaException>(() => client.DeleteUserAsync(user))).Kind);
        Assert.Equal(ElemtaErrorKind.NotFound, (await Assert.ThrowsAsync<ElemtaException>(() => client.UpdateUserAsync(user, [UserRole.Viewer], []))).Kind);
        Assert.Equal(ElemtaErrorKind.NotFound, (await Assert.ThrowsAsync<ElemtaException>(() => client.SetPasswordAsync(user, "a long passphrase"))).Kind);

        // Keys: one that expires, listed, revoked once; a second revoke conflicts.
        var key = await client.CreateApiKeyAsync(UserRole.Viewer, tag, TimeSpan.FromHours(36));
        Assert.NotNull(key.ApiKey.ExpiresAt);
        Assert.Contains(await client.ListApiKeysAsync(), k => k.Id == key.ApiKey.Id && k.State == ApiKeyState.Active);
        await client.RevokeApiKeyAsync(key.ApiKey.Id);
        Assert.Contains(await client.ListApiKeysAsync(), k => k.Id == key.ApiKey.Id && k.State == ApiKeyState.Revoked);
        Assert.Equal(ElemtaErrorKind.Conflict, (await Assert.ThrowsAsync<ElemtaException>(() => client.RevokeApiKeyAsync(key.ApiKey.Id))).Kind);
        Assert.Equal("Active", (await client.GetClusterAsync())[0].Status);
    }

    [Theory]
    [InlineData("gateway", "203.0.113.0/25")]
    [InlineData("http", "203.0.113.128/25")]
    public async Task Each_client_reads_and_changes_the_access_list_with_the_same_errors(string via, string network)
    {
        await using var gateway = await ElemtaClient.ConnectAsync(new ElemtaClientOptions { GatewayPort = cluster.Silo.GatewayPort });
        using var http = ElemtaHttpClient.WithAccount(cluster.Silo.HttpUrl, "admin", cluster.AdminPassword);
        IElemtaClient client = via == "gateway" ? gateway : http;

        var added = await client.SetAccessListEntryAsync(network, AccessListAction.Deny, via);
        Assert.Equal((network, AccessListAction.Deny, via), (added.Network, added.Action, added.Comment));
        Assert.Equal(via == "gateway" ? "client-sdk" : "admin", added.AddedBy);
        var replaced = await client.SetAccessListEntryAsync(network, AccessListAction.Allow);
        Assert.Equal(AccessListAction.Allow, replaced.Action);
        var list = await client.GetAccessListAsync();
        Assert.Contains(list.Entries, e => e.Network == network && e.Action == AccessListAction.Allow);

        await client.RemoveAccessListEntryAsync(network);
        Assert.DoesNotContain((await client.GetAccessListAsync()).Entries, e => e.Network == network);
        Assert.Equal(list.Version + 1, (await client.GetAccessListAsync()).Version);
        Assert.Equal(ElemtaErrorKind.NotFound, (await Assert.ThrowsAsync<ElemtaException>(() => client.RemoveAccessListEntryAsync(network))).Kind);
        var invalid = await Assert.ThrowsAsync<ElemtaException>(() => client.SetAccessListEntryAsync("203.0.113.1/24", AccessListAction.Deny));
        Assert.Equal(ElemtaErrorKind.Invalid, invalid.Kind);
        Assert.Contains("network '203.0.113.1/24' has host bits set: the network is 203.0.113.0/24", invalid.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_http_client_refuses_what_the_rest_api_cannot_do_and_maps_failures_to_error_kinds()
    {
        using var http = ElemtaHttpClient.WithAccount(cluster.Silo.HttpUrl, "admin", cluster.AdminPassword);
        Assert.Equal(ElemtaErrorKind.Invalid, (await Assert.ThrowsAsync<ElemtaException>(() => http.ApplyToStateAsync(MessageQueueState.Deferred, QueueAction.Hold))).Kind);
        Assert.Equal(ElemtaErrorKind.Invalid, (await Assert.ThrowsAsync<ElemtaException>(() => http.CreateUserAsync("not a name", [UserRole.Viewer], []))).Kind);

        using var wrong = ElemtaHttpClient.WithAccount(cluster.Silo.HttpUrl, "admin", "not the password");
        Assert.Equal(ElemtaErrorKind.Unauthorized, (await Assert.ThrowsAsync<ElemtaException>(() => wrong.GetClusterAsync())).Kind);

        Assert.Throws<ArgumentException>(() => ElemtaHttpClient.WithApiKey(new Uri("ftp://127.0.0.1/"), "key"));
        using (var noBase = new HttpClient())
        {
            Assert.Throws<ArgumentException>(() => new ElemtaHttpClient(noBase));
        }

        // Nothing listening: unreachable.
        using var nowhere = ElemtaHttpClient.WithApiKey(new Uri($"http://127.0.0.1:{FreePort.GetTcpPort()}"), "key");
        var refused = await Assert.ThrowsAsync<ElemtaException>(() => nowhere.GetClusterAsync());
        Assert.Equal(ElemtaErrorKind.Unreachable, refused.Kind);

        // A listener that accepts and never answers: the HttpClient's timeout, reported as unreachable.
        using var silent = new TcpListener(IPAddress.Loopback, 0);
        silent.Start();
        using var slowHttp = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{((IPEndPoint)silent.LocalEndpoint).Port}/"), Timeout = TimeSpan.FromSeconds(1) };
        var timedOut = await Assert.ThrowsAsync<ElemtaException>(() => new ElemtaHttpClient(slowHttp).GetClusterAsync());
        Assert.Equal(ElemtaErrorKind.Unreachable, timedOut.Kind);
        Assert.Contains("did not answer within 1 s", timedOut.Message, StringComparison.Ordinal);

        // A proxy's plain-text 502: not problem details, so the status decides the kind.
        using var proxy = new TcpListener(IPAddress.Loopback, 0);
        proxy.Start();
        var answer = Task.Run(async () =>
        {
            using var socket = await proxy.AcceptSocketAsync();
            var buffer = new byte[4096];
            await socket.ReceiveAsync(buffer);
            await socket.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 502 Bad Gateway\r\nContent-Type: text/plain\r\nContent-Length: 4\r\nConnection: close\r\n\r\ngone"));
        });
        using var viaProxy = ElemtaHttpClient.WithApiKey(new Uri($"http://127.0.0.1:{((IPEndPoint)proxy.LocalEndpoint).Port}"), "key");
        var badGateway = await Assert.ThrowsAsync<ElemtaException>(() => viaProxy.GetStatisticsAsync());
        await answer;
        Assert.Equal(ElemtaErrorKind.Unreachable, badGateway.Kind);
        Assert.Equal("502: Bad Gateway", badGateway.Message);
    }

    [Fact]
    public async Task The_gateway_client_reports_an_absent_gateway_and_refuses_bad_options_and_values()
    {
        var absent = await Assert.ThrowsAsync<ElemtaException>(() => ElemtaClient.ConnectAsync(new ElemtaClientOptions { GatewayPort = FreePort.GetTcpPort(), ConnectTimeout = TimeSpan.FromSeconds(2) }));
        Assert.Equal(ElemtaErrorKind.Unreachable, absent.Kind);

        var validator = new ElemtaClientOptionsValidator();
        var failures = validator.Validate(null, new ElemtaClientOptions { ServiceId = " ", ClusterId = string.Empty, ConnectTimeout = TimeSpan.Zero, GatewayPort = 0 }).Failures!.ToList();
        Assert.Equal(4, failures.Count);
        Assert.Contains(validator.Validate(null, new ElemtaClientOptions { Clustering = ElemtaClustering.StaticGateways, Gateways = { "no-port" } }).Failures!, f => f.Contains("'no-port' is not host:port", StringComparison.Ordinal));
        Assert.Contains(validator.Validate(null, new ElemtaClientOptions { Clustering = ElemtaClustering.StaticGateways }).Failures!, f => f.Contains("at least one", StringComparison.Ordinal));
        Assert.Contains(validator.Validate(null, new ElemtaClientOptions { Clustering = ElemtaClustering.PostgreSql }).Failures!, f => f.Contains("ConnectionString is required", StringComparison.Ordinal));
        Assert.Contains(validator.Validate(null, new ElemtaClientOptions { Clustering = (ElemtaClustering)42 }).Failures!, f => f.Contains("is not one of", StringComparison.Ordinal));
        Assert.True(validator.Validate(null, new ElemtaClientOptions()).Succeeded);

        await using var gateway = await ElemtaClient.ConnectAsync(new ElemtaClientOptions { GatewayPort = cluster.Silo.GatewayPort });
        Assert.Equal(ElemtaErrorKind.Invalid, (await Assert.ThrowsAsync<ElemtaException>(() => gateway.CreateApiKeyAsync(UserRole.Viewer, "never", TimeSpan.Zero))).Kind);
        await Assert.ThrowsAsync<ArgumentException>(() => gateway.SubmitAsync("a@example.org", ["not-an-address"], Raw("x")));
        await Assert.ThrowsAsync<ArgumentException>(() => gateway.SubmitAsync("a@example.org", [], Raw("x")));

        Assert.Equal(ElemtaErrorKind.Failed, new ElemtaException().Kind);
        Assert.Equal(ElemtaErrorKind.Failed, new ElemtaException("failed").Kind);
        Assert.Equal(ElemtaErrorKind.Failed, new ElemtaException("failed", new InvalidOperationException()).Kind);
    }
}
