using System.Diagnostics;
using System.Net;
using System.Text;
using Elemta.Contracts;
using Elemta.Testing;
using MailKit.Net.Smtp;
using MimeKit;

namespace Elemta.Silo.Tests;

/// <summary>The whole path: a real SMTP client → the Elemta silo process → a real SMTP server as the destination.</summary>
public sealed class EndToEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static byte[] RawMessage(string subject) => Encoding.ASCII.GetBytes(
        "From: Alice <alice@example.org>\r\n" +
        "To: Bob <bob@example.net>\r\n" +
        $"Subject: {subject}\r\n" +
        "Message-ID: <" + Guid.NewGuid().ToString("N") + "@example.org>\r\n" +
        "Date: Tue, 24 Nov 2026 12:00:00 +0000\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=us-ascii\r\n" +
        "\r\n" +
        "Hello Bob,\r\n" +
        ".a line that starts with a dot\r\n" +
        "..and one with two\r\n" +
        "\r\n" +
        "-- \r\nAlice\r\n");

    [Fact]
    public async Task MailKit_to_silo_to_sink_delivers_the_same_bytes_to_every_recipient()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
        });

        var raw = RawMessage("end to end");
        using (var client = new SmtpClient())
        {
            await client.ConnectAsync("127.0.0.1", silo.SmtpPort, MailKit.Security.SecureSocketOptions.None);
            using var message = await MimeMessage.LoadAsync(new MemoryStream(raw));
            await client.SendAsync(message, new MailboxAddress("", "alice@example.org"), [new MailboxAddress("", "bob@example.net"), new MailboxAddress("", "carol@example.net")]);
            await client.DisconnectAsync(true);
        }

        var received = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Equal("alice@example.org", received.MailFrom);
        Assert.Equal(["bob@example.net", "carol@example.net"], received.Recipients.Order().ToArray());
        Assert.Equal("relay.elemta.test", received.HeloName);

        // Elemta prepends exactly one trace header; everything after it is the client's message, byte for byte.
        var text = Encoding.ASCII.GetString(received.Data);
        Assert.StartsWith("Received: from ", text, StringComparison.Ordinal);
        Assert.Contains("by mx.elemta.test (Elemta) with ESMTP id ", text, StringComparison.Ordinal);
        var bodyStart = text.IndexOf("From: Alice", StringComparison.Ordinal);
        Assert.Equal(raw, received.Data[bodyStart..]);
        Assert.Single(sink.Messages);
    }

    [Fact]
    public async Task A_message_accepted_before_a_kill_9_is_delivered_exactly_once_after_restart()
    {
        // Nothing listens here until the silo has crashed; the bound socket keeps other tests' listeners off the port.
        using var held = RefusingEndPoint.Bind(IPAddress.Loopback);
        var sinkPort = RefusingEndPoint.PortOf(held);
        using var data = new TempDirectory();
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sinkPort}",
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:01",
        };

        string queueId;
        var silo = await SiloProcess.StartAsync(data.Path, settings);
        await using (silo)
        {
            queueId = await SendRawAsync(silo.SmtpPort, "alice@example.org", ["bob@example.net"], RawMessage("survives a crash"));

            // Wait until the first attempt has failed (so the message is really in the retry path), then crash.
            await using (var client = await silo.ConnectClientAsync())
            {
                await Eventually.GetAsync(() => client.GetMessageAsync(queueId), s => s?.Recipients[0].Attempts >= 1, Timeout, "a first failed attempt");
            }

            await silo.KillAsync();
        }

        held.Dispose();
        await using var sink = SmtpSink.Start(IPAddress.Loopback, sinkPort);
        await using var restarted = await SiloProcess.StartAsync(data.Path, settings);
        var received = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Contains($" id {queueId}", Encoding.ASCII.GetString(received.Data), StringComparison.Ordinal);

        await using var sdk = await restarted.ConnectClientAsync();
        var status = await Eventually.GetAsync(() => sdk.GetMessageAsync(queueId), s => s?.State.IsFinal() == true, Timeout, "the message to complete");
        Assert.Equal(RecipientStatus.Delivered, status!.Recipients.Single().Status);
        Assert.Single(sink.Messages);
    }

    [Fact]
    public async Task Permanent_and_temporary_rejections_are_kept_per_recipient()
    {
        await using var sink = SmtpSink.Start();
        sink.OnRecipient = rcpt => rcpt.StartsWith("nobody@", StringComparison.Ordinal) ? new SmtpSinkReply(550, "5.1.1 no such user")
            : rcpt.StartsWith("later@", StringComparison.Ordinal) ? new SmtpSinkReply(450, "4.2.1 mailbox busy")
            : null;
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
        });

        var id = await SendRawAsync(silo.SmtpPort, "alice@example.org", ["bob@example.net", "nobody@example.net", "later@example.net"], RawMessage("mixed"));
        var received = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Equal(["bob@example.net"], received.Recipients);

        await using var client = await silo.ConnectClientAsync();
        var status = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.Recipients.All(r => r.Attempts > 0) == true, Timeout, "all recipients attempted");
        var byAddress = status!.Recipients.ToDictionary(r => r.Address);
        Assert.Equal(RecipientStatus.Delivered, byAddress["bob@example.net"].Status);
        Assert.Equal(RecipientStatus.Failed, byAddress["nobody@example.net"].Status);
        Assert.StartsWith("550", byAddress["nobody@example.net"].LastReply, StringComparison.Ordinal);
        Assert.Equal(RecipientStatus.Deferred, byAddress["later@example.net"].Status);
        Assert.StartsWith("450", byAddress["later@example.net"].LastReply, StringComparison.Ordinal);
        Assert.True(byAddress["later@example.net"].NextAttemptAt > DateTimeOffset.UtcNow.AddMinutes(30));
        Assert.Equal(MessageQueueState.Deferred, status.State);
    }

    [Fact]
    public async Task A_recipient_that_keeps_failing_temporarily_expires_after_the_queue_lifetime()
    {
        await using var sink = SmtpSink.Start();
        sink.OnRecipient = _ => new SmtpSinkReply(451, "4.3.0 try again later");
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:00.5",
            ["Elemta:Queue:MaxQueueLifetime"] = "00:00:02",
        });

        var id = await SendRawAsync(silo.SmtpPort, "alice@example.org", ["bob@example.net"], RawMessage("expires"));
        await using var client = await silo.ConnectClientAsync();
        var status = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.State.IsFinal() == true, Timeout, "expiry");
        var recipient = status!.Recipients.Single();
        Assert.Equal(RecipientStatus.Failed, recipient.Status);
        Assert.StartsWith("expired after 00:00:02 in queue; last reply: 451", recipient.LastReply, StringComparison.Ordinal);
        Assert.True(recipient.Attempts >= 2);
        Assert.Empty(sink.Messages);
        Assert.Equal(0, (await client.GetDomainQueueAsync("example.net")).QueuedCount);
    }

    [Fact]
    public async Task Delivery_follows_MX_records_from_the_configured_name_server_and_bounces_on_null_MX()
    {
        await using var sink = SmtpSink.Start();
        await using var dns = LoopbackDnsServer.Start();
        dns.AddMx("mx-test.example", 20, "backup.mx-test.example");
        dns.AddMx("mx-test.example", 10, "primary.mx-test.example");
        dns.AddA("primary.mx-test.example", IPAddress.Loopback);
        dns.AddA("backup.mx-test.example", IPAddress.Parse("127.0.0.1"));
        dns.AddMx("nomail.example", 0, ".");
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Dns:Servers:0"] = dns.EndPoint.ToString(),
            ["Elemta:Delivery:SmtpPort"] = sink.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        var id = await SendRawAsync(silo.SmtpPort, "alice@example.org", ["dave@mx-test.example", "erin@nomail.example"], RawMessage("via MX"));
        var received = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Equal(["dave@mx-test.example"], received.Recipients);
        Assert.Contains(dns.Queries, q => q.Name == "mx-test.example" && q.Type == DnsRecordType.MX);
        Assert.Contains(dns.Queries, q => q.Name == "primary.mx-test.example" && q.Type == DnsRecordType.A);

        await using var client = await silo.ConnectClientAsync();
        var status = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.State.IsFinal() == true, Timeout, "the message to complete");
        var nullMx = status!.Recipients.Single(r => r.Address == "erin@nomail.example");
        Assert.Equal(RecipientStatus.Failed, nullMx.Status);
        Assert.StartsWith("556 5.1.10", nullMx.LastReply, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Client_SDK_submits_a_message_that_is_delivered_and_reports_its_status()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
        });
        await using var client = await silo.ConnectClientAsync();

        var raw = RawMessage("from the SDK");
        var id = await client.SubmitAsync("alice@example.org", ["bob@example.net"], raw);
        var received = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Equal(raw, received.Data);

        var status = await Eventually.GetAsync(() => client.GetMessageAsync(id), s => s?.State.IsFinal() == true, Timeout, "completion");
        Assert.Equal("alice@example.org", status!.Envelope.Sender);
        Assert.Equal(RecipientStatus.Delivered, status.Recipients.Single().Status);
        Assert.Null(await client.GetMessageAsync("no-such-message"));
        var queue = await client.GetDomainQueueAsync("example.net");
        Assert.Equal(0, queue.QueuedCount);
    }

    [Fact]
    public async Task Swaks_sends_through_the_silo()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
        });

        var output = await SwaksAsync(silo.SmtpPort, "--header", "Subject: swaks interop", "--body", "sent by swaks", "--pipeline");
        Assert.Contains("<-  250 2.0.0 Ok: queued as ", output, StringComparison.Ordinal);

        var received = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Contains("Subject: swaks interop", Encoding.ASCII.GetString(received.Data), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Swaks_sends_over_STARTTLS_with_the_self_signed_certificate()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Smtp:Tls:SelfSignedDirectory"] = Path.Combine(data.Path, "tls"),
            ["Elemta:Smtp:RequireTls"] = "true",
        });

        var output = await SwaksAsync(silo.SmtpPort, "--header", "Subject: swaks over TLS", "--tls", "--pipeline");
        Assert.Contains("TLS started", output, StringComparison.Ordinal);

        var received = await sink.WaitForMessageAsync(_ => true, Timeout);
        var text = Encoding.ASCII.GetString(received.Data);
        Assert.Contains(" with ESMTPS id ", text, StringComparison.Ordinal);
        Assert.Contains("Subject: swaks over TLS", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_message_received_with_REQUIRETLS_is_returned_rather_than_relayed_without_TLS()
    {
        await using var sink = SmtpSink.Start(); // offers no STARTTLS
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Smtp:Tls:SelfSignedDirectory"] = Path.Combine(data.Path, "tls"),
        });

        string reply;
        using (var client = new SmtpClient { ServerCertificateValidationCallback = static (_, _, _, _) => true, CheckCertificateRevocation = false, RequireTLS = true })
        {
            await client.ConnectAsync("127.0.0.1", silo.SmtpPort, MailKit.Security.SecureSocketOptions.StartTls);
            Assert.True(client.Capabilities.HasFlag(SmtpCapabilities.RequireTLS));
            using var message = await MimeMessage.LoadAsync(new MemoryStream(RawMessage("confidential")));
            reply = await client.SendAsync(message, new MailboxAddress("", "alice@example.org"), [new MailboxAddress("", "bob@example.net")]);
            await client.DisconnectAsync(true);
        }

        var id = reply[(reply.IndexOf("queued as ", StringComparison.Ordinal) + "queued as ".Length)..].Trim();
        await using var sdk = await silo.ConnectClientAsync();
        var status = await Eventually.GetAsync(() => sdk.GetMessageAsync(id), s => s?.State.IsFinal() == true, Timeout, "the message to complete");
        Assert.True(status!.Envelope.RequireTls);
        var recipient = status.Recipients.Single();
        Assert.Equal(RecipientStatus.Failed, recipient.Status);
        Assert.StartsWith("550 5.7.10 REQUIRETLS", recipient.LastReply, StringComparison.Ordinal);
        Assert.Empty(sink.Messages);
    }

    /// <summary>Runs swaks from alice@example.org to bob@example.net against the silo; fails the test unless it exits 0.</summary>
    private static async Task<string> SwaksAsync(int port, params string[] arguments)
    {
        Assert.True(File.Exists("/usr/bin/swaks"), "swaks is required (apt-get install swaks; .ci/run installs it)");
        var info = new ProcessStartInfo("/usr/bin/swaks") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { "--server", $"127.0.0.1:{port}", "--from", "alice@example.org", "--to", "bob@example.net", "--helo", "swaks.test" }.Concat(arguments))
        {
            info.ArgumentList.Add(arg);
        }

        using var swaks = Process.Start(info)!;
        var stdout = swaks.StandardOutput.ReadToEndAsync();
        var stderr = swaks.StandardError.ReadToEndAsync();
        await swaks.WaitForExitAsync().WaitAsync(Timeout);
        var output = await stdout + await stderr;
        Assert.True(swaks.ExitCode == 0, output);
        return output;
    }

    /// <summary>Sends raw message bytes with MailKit and returns the queue id from the 250 reply.</summary>
    internal static async Task<string> SendRawAsync(int port, string sender, string[] recipients, byte[] raw)
    {
        using var client = new SmtpClient();
        await client.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
        using var message = await MimeMessage.LoadAsync(new MemoryStream(raw));
        var reply = await client.SendAsync(message, new MailboxAddress("", sender), recipients.Select(r => new MailboxAddress("", r)));
        await client.DisconnectAsync(true);
        const string marker = "queued as ";
        var at = reply.IndexOf(marker, StringComparison.Ordinal);
        Assert.True(at >= 0, $"unexpected reply: {reply}");
        return reply[(at + marker.Length)..].Trim();
    }
}
