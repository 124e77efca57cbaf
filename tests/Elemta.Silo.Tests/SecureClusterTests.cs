using System.Net;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Elemta.Client;
using Elemta.Contracts;
using MailKit.Net.Smtp;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MimeKit;
using Orleans.Hosting;
using Xunit.Abstractions;

namespace Elemta.Silo.Tests;

/// <summary>
/// A two-silo PostgreSQL cluster with mutual TLS on its Orleans ports: the silos form one cluster and mail flows; a
/// client with a certificate from the cluster CA calls grains, one without a certificate or with one from another CA
/// calls none; the admin plane of one silo sees and acts on a message the other accepted.
/// </summary>
public sealed partial class SecureClusterTests(SecureCluster cluster, ITestOutputHelper output) : IClassFixture<SecureCluster>
{
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(45);

    [Fact]
    public async Task Two_silos_with_mutual_tls_form_one_cluster_and_deliver_mail_accepted_by_either()
    {
        // The fixture waited for both silos to be Active in the membership table (which takes a connection between them).
        Assert.Contains("Cluster ports require mutual TLS", cluster.A.Output, StringComparison.Ordinal);

        var tokens = new List<string>();
        foreach (var silo in new[] { cluster.A, cluster.B, cluster.A, cluster.B })
        {
            var token = Guid.NewGuid().ToString("N");
            tokens.Add(token);
            await SendAsync(silo, $"rcpt-{token[..6]}@sink.test", token);
        }

        foreach (var token in tokens)
        {
            await cluster.Sink.WaitForMessageAsync(m => System.Text.Encoding.ASCII.GetString(m.Data).Contains(token, StringComparison.Ordinal), SecureCluster.Timeout);
        }
    }

    [Fact]
    public async Task A_client_with_a_certificate_from_the_cluster_ca_can_call_a_grain()
    {
        await using var client = await cluster.ConnectTrustedClientAsync(cluster.B).WaitAsync(CallTimeout);
        var id = await client.SubmitAsync("sdk@example.org", ["someone@held.test"], Content("sdk over tls")).WaitAsync(CallTimeout);
        var status = await client.GetMessageAsync(id).WaitAsync(CallTimeout);
        Assert.NotNull(status);
        Assert.Equal("sdk@example.org", status.Envelope.Sender);
    }

    [Fact]
    public async Task A_client_without_tls_can_call_no_grain_and_changes_nothing()
    {
        await AssertIntruderChangesNothingAsync(client => { });
    }

    [Fact]
    public async Task A_client_with_tls_but_no_certificate_can_call_no_grain_and_changes_nothing()
    {
        // It would accept any silo; only the silo's demand for a certificate stands in its way.
        await AssertIntruderChangesNothingAsync(client => client.UseTls(o => o.AllowAnyRemoteCertificate()));
    }

    [Fact]
    public async Task A_client_with_a_certificate_from_another_ca_can_call_no_grain_and_changes_nothing()
    {
        var (certificatePath, keyPath, _) = cluster.ForeignCertificate;
        using var pem = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        using var certificate = System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadPkcs12(
            pem.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pkcs12), password: null);
        await AssertIntruderChangesNothingAsync(client => client.UseTls(certificate, o => o.AllowAnyRemoteCertificate()));
    }

    [Fact]
    public async Task The_sdk_refuses_a_client_certificate_that_does_not_chain_to_its_ca_option()
    {
        var (certificatePath, keyPath, _) = cluster.ForeignCertificate;
        var error = await Assert.ThrowsAsync<InvalidOperationException>(() => ElemtaClient.ConnectAsync(new ElemtaClientOptions
        {
            GatewayPort = cluster.A.GatewayPort,
            ClusterId = cluster.ClusterId,
            TlsCertificatePath = certificatePath,
            TlsKeyPath = keyPath,
            TlsCaPath = cluster.CaPath,
        }));
        Assert.Contains("ElemtaClientOptions.TlsCertificatePath", error.Message, StringComparison.Ordinal);
        Assert.Contains("does not chain to", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_admin_api_of_silo_a_lists_explains_holds_releases_and_deletes_a_message_accepted_by_silo_b()
    {
        var token = Guid.NewGuid().ToString("N");
        var recipient = $"waits-{token[..8]}@held.test";
        var id = await SendAsync(cluster.B, recipient, token);
        using var a = cluster.Admin(cluster.A);
        using var b = cluster.Admin(cluster.B);

        // Listed on A (deferred after its first refused attempt, found by its recipient).
        var listed = await Eventually.GetAsync(
            async () => await a.GetFromJsonAsync<JsonElement>($"/api/queue/deferred?recipient={Uri.EscapeDataString(recipient)}"),
            page => page.GetProperty("items").EnumerateArray().Any(m => m.GetProperty("messageId").GetString() == id),
            SecureCluster.Timeout,
            "the message accepted by B in A's deferred listing");
        Assert.Single(listed.GetProperty("items").EnumerateArray());

        // Its explanation, read through A.
        var detail = await a.GetFromJsonAsync<JsonElement>($"/api/queue/message/{id}");
        Assert.Equal("deferred", detail.GetProperty("state").GetString());
        Assert.False(string.IsNullOrWhiteSpace(detail.GetProperty("explanation").GetProperty("summary").GetString()));
        Assert.Equal("held.test", detail.GetProperty("explanation").GetProperty("domains")[0].GetProperty("domain").GetString());

        await PostAsync(a, $"/api/queue/message/{id}/hold");
        Assert.Equal("held", await StateAsync(b, id));
        await PostAsync(a, $"/api/queue/message/{id}/release");
        Assert.NotEqual("held", await StateAsync(b, id));
        using (var deleted = await a.DeleteAsync($"/api/queue/message/{id}"))
        {
            Assert.Equal(HttpStatusCode.OK, deleted.StatusCode);
        }

        using (var gone = await b.GetAsync($"/api/queue/message/{id}"))
        {
            Assert.Equal(HttpStatusCode.NotFound, gone.StatusCode);
        }

        // The audit records A wrote, read through B.
        var audit = await b.GetFromJsonAsync<JsonElement>($"/api/audit?subject={id}");
        var actions = audit.GetProperty("items").EnumerateArray().Select(e => (e.GetProperty("action").GetString(), e.GetProperty("actor").GetString())).ToList();
        Assert.Equal([("message.delete", "admin"), ("message.release", "admin"), ("message.hold", "admin")], actions);
    }

    [Fact]
    public async Task The_cli_presents_the_configured_certificate_and_without_it_cannot_reach_the_cluster()
    {
        string[] common = [$"--Elemta:Cluster:GatewayPort={cluster.A.GatewayPort}", $"--Elemta:Cluster:ClusterId={cluster.ClusterId}"];
        var (code, output) = await SiloProcess.RunToExitAsync(
        [
            "user", "list", .. common,
            $"--Elemta:Cluster:Tls:CertificatePath={cluster.ClientCertificate.CertificatePath}",
            $"--Elemta:Cluster:Tls:KeyPath={cluster.ClientCertificate.KeyPath}",
            $"--Elemta:Cluster:Tls:CaPath={cluster.CaPath}",
        ]);
        Assert.True(code == 0, output);
        Assert.Contains("admin", output, StringComparison.Ordinal);

        (code, output) = await SiloProcess.RunToExitAsync(["user", "list", .. common]);
        Assert.True(code == 4, output); // docs/cli.md: 4 = the cluster could not be reached
        Assert.Contains("cannot reach the cluster", output, StringComparison.Ordinal);
    }

    /// <summary>
    /// A client configured by <paramref name="tls"/> tries to delete a held message and to queue a new one through
    /// silo A's gateway: every try must fail, and afterwards the held message is still there and the counts are the same.
    /// </summary>
    private async Task AssertIntruderChangesNothingAsync(Action<IClientBuilder> tls)
    {
        await using var trusted = await cluster.ConnectTrustedClientAsync(cluster.A).WaitAsync(CallTimeout);
        var target = await trusted.SubmitAsync("owner@example.org", ["target@held.test"], Content("keep me")).WaitAsync(CallTimeout);
        await trusted.ApplyToMessageAsync(target, QueueAction.Hold).WaitAsync(CallTimeout);
        var before = await Eventually.GetAsync(() => trusted.GetStatisticsAsync(), s => true, CallTimeout, "statistics");

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering(cluster.A.GatewayPort, "elemta", cluster.ClusterId);
            // One try: Orleans' default retries a failed first connection for minutes.
            client.UseConnectionRetryFilter((_, _) => Task.FromResult(false));
            tls(client);
        });
        using var host = builder.Build();
        // Refused, not timed out: the silo drops the connection during the TLS handshake.
        var refused = await Assert.ThrowsAnyAsync<Exception>(() => host.StartAsync().WaitAsync(CallTimeout));
        output.WriteLine($"connecting: {refused.GetType().Name}: {refused.Message}");
        Assert.IsNotType<TimeoutException>(refused);
        var grains = host.Services.GetRequiredService<IClusterClient>();
        var delete = await Assert.ThrowsAnyAsync<Exception>(() => grains.GetGrain<IMessageGrain>(target).ApplyAsync(QueueAction.Delete).WaitAsync(CallTimeout));
        output.WriteLine($"deleting: {delete.GetType().Name}: {delete.Message}");
        var id = MessageIds.New();
        var envelope = new MessageEnvelope(id, "intruder@example.org", ["victim@sink.test"], DateTimeOffset.UtcNow, "intruder", "intruder", 10, Elemta.Contracts.MessagePriority.Normal);
        await Assert.ThrowsAnyAsync<Exception>(() => grains.GetGrain<IMessageGrain>(id).SubmitAsync(envelope, Content("spam")).WaitAsync(CallTimeout));

        var status = await trusted.GetMessageAsync(target).WaitAsync(CallTimeout);
        Assert.NotNull(status);
        Assert.Equal(MessageQueueState.Held, status.State);
        var after = await trusted.GetStatisticsAsync().WaitAsync(CallTimeout);
        Assert.Equal(before.Messages.Values.Sum(), after.Messages.Values.Sum());
    }

    private static byte[] Content(string subject) =>
        System.Text.Encoding.ASCII.GetBytes($"From: <a@example.org>\r\nTo: <b@example.org>\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@elemta.test>\r\n\r\nHello\r\n");

    /// <summary>Sends one message over SMTP to <paramref name="silo"/> and returns the queue id of its 250 reply.</summary>
    private static async Task<string> SendAsync(SiloProcess silo, string recipient, string token)
    {
        using var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Sender", "sender@example.org"));
        message.To.Add(new MailboxAddress("", recipient));
        message.Subject = "token " + token;
        message.Body = new TextPart("plain") { Text = $"token {token}\r\n" };
        using var smtp = new SmtpClient { Timeout = 60_000 };
        await smtp.ConnectAsync("127.0.0.1", silo.SmtpPort, MailKit.Security.SecureSocketOptions.None);
        var reply = await smtp.SendAsync(message);
        await smtp.DisconnectAsync(true);
        var queued = QueuedAs().Match(reply);
        Assert.True(queued.Success, $"no queue id in '{reply}'");
        return queued.Groups[1].Value;
    }

    private static async Task PostAsync(HttpClient client, string path)
    {
        using var response = await client.PostAsync(path, null);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
    }

    private static async Task<string?> StateAsync(HttpClient client, string id) =>
        (await client.GetFromJsonAsync<JsonElement>($"/api/queue/message/{id}")).GetProperty("state").GetString();

    [GeneratedRegex("queued as ([0-9a-f]{32})")]
    private static partial Regex QueuedAs();
}
