using System.Net;
using System.Net.Sockets;
using Elemta.Contracts;
using Elemta.Testing;
using static Elemta.Delivery.Tests.DeliveryTestKit;
using static Elemta.Delivery.Tests.Local.LocalTestKit;

namespace Elemta.Delivery.Tests.Local;

/// <summary>LMTP delivery into a real Dovecot, and into servers that fail on cue.</summary>
[Collection(DovecotCollection.Name)]
public sealed class LmtpDeliveryAgentTests(DovecotFixture dovecot)
{
    private const string Domain = "dovecot.test";
    private DovecotLmtpServer Dovecot => dovecot.Server;

    private string TcpEndpoint => $"127.0.0.1:{Dovecot.EndPoint.Port}";

    private static Task<DeliveryAttempt> DeliverAsync(string endpoint, byte[] content, params string[] recipients) =>
        LmtpAgent(OneDomain(Domain, Lmtp(endpoint))).DeliverAsync(Work(Domain, "sender@origin.test", recipients), content, Token());

    /// <summary>Waits for the Maildir file Dovecot writes for <paramref name="address"/> with <paramref name="marker"/> in it.</summary>
    private string DeliveredText(string address, string marker)
    {
        var texts = Dovecot.Delivered(address).Select(File.ReadAllText).Where(t => t.Contains(marker, StringComparison.Ordinal)).ToList();
        Assert.True(texts.Count == 1, $"{texts.Count} messages with '{marker}' for {address}.\n--- dovecot.log ---\n{Dovecot.Log}");
        return texts[0];
    }

    private static byte[] Marked(string marker, params string[] body) => Crlf(
        [
            "From: sender@origin.test",
            "To: alice@dovecot.test",
            $"Subject: {marker}",
            $"Message-ID: <{marker}@origin.test>",
            "Date: Mon, 02 Mar 2026 10:00:00 +0000",
            string.Empty,
            .. body,
        ]);

    [Fact]
    public async Task Delivers_into_each_recipients_Dovecot_Maildir_over_TCP()
    {
        var marker = $"tcp-{Guid.NewGuid():N}";
        var attempt = await DeliverAsync(TcpEndpoint, Marked(marker, "Hello over TCP."), "alice@dovecot.test", "bob@dovecot.test");

        foreach (var address in (string[])["alice@dovecot.test", "bob@dovecot.test"])
        {
            var result = ResultFor(attempt, address);
            Assert.True(result.Outcome == RecipientOutcome.Delivered, $"{result}\n--- dovecot.log ---\n{Dovecot.Log}");
            Assert.StartsWith("250 2.0.0", result.Reply, StringComparison.Ordinal);
            var text = DeliveredText(address, marker);
            Assert.Contains("Hello over TCP.", text, StringComparison.Ordinal);
            Assert.Contains("Return-Path: <sender@origin.test>", text, StringComparison.Ordinal);
        }

        Assert.Equal(TcpEndpoint, attempt.RemoteHost);
        Assert.Equal(TcpEndpoint, attempt.RemoteAddress);
        Assert.Equal("none", attempt.Tls);
        Assert.True(attempt.Duration > TimeSpan.Zero);
        // Setup (connect, greeting, LHLO) ends at MAIL FROM; the transfer is the rest.
        Assert.True(attempt.Setup > TimeSpan.Zero && attempt.Setup < attempt.Duration, $"setup {attempt.Setup} within {attempt.Duration}");
    }

    [Fact]
    public async Task Delivers_over_the_Unix_socket()
    {
        var marker = $"unix-{Guid.NewGuid():N}";
        var attempt = await DeliverAsync($"unix:{Dovecot.SocketPath}", Marked(marker, "Hello over a Unix socket."), "alice@dovecot.test");

        var result = Assert.Single(attempt.Results);
        Assert.True(result.Outcome == RecipientOutcome.Delivered, $"{result}\n--- dovecot.log ---\n{Dovecot.Log}");
        Assert.Contains("Hello over a Unix socket.", DeliveredText("alice@dovecot.test", marker), StringComparison.Ordinal);
        Assert.Equal(Dovecot.SocketPath, attempt.RemoteAddress);
    }

    [Fact]
    public async Task An_unknown_user_is_refused_permanently_while_the_others_are_delivered()
    {
        var marker = $"mixed-{Guid.NewGuid():N}";
        var attempt = await DeliverAsync(TcpEndpoint, Marked(marker, "Some of you."), "alice@dovecot.test", "carol@dovecot.test", "bob@dovecot.test");

        var carol = ResultFor(attempt, "carol@dovecot.test");
        Assert.Equal(RecipientOutcome.Permanent, carol.Outcome);
        Assert.StartsWith("550 5.1.1", carol.Reply, StringComparison.Ordinal);
        Assert.Equal(DeliveryError.PermanentReply, carol.Error);
        Assert.Equal(RecipientOutcome.Delivered, ResultFor(attempt, "alice@dovecot.test").Outcome);
        Assert.Equal(RecipientOutcome.Delivered, ResultFor(attempt, "bob@dovecot.test").Outcome);
        DeliveredText("alice@dovecot.test", marker);
        DeliveredText("bob@dovecot.test", marker);
    }

    [Fact]
    public async Task When_every_recipient_is_unknown_each_is_refused_and_nothing_is_sent()
    {
        var attempt = await DeliverAsync(TcpEndpoint, SimpleMessage(), "carol@dovecot.test", "dave@dovecot.test");

        Assert.All(attempt.Results, r => Assert.Equal(RecipientOutcome.Permanent, r.Outcome));
        Assert.All(attempt.Results, r => Assert.StartsWith("550 5.1.1", r.Reply, StringComparison.Ordinal));
    }

    [Fact]
    public async Task Lines_starting_with_a_dot_arrive_unchanged()
    {
        var marker = $"dots-{Guid.NewGuid():N}";
        var attempt = await DeliverAsync(TcpEndpoint, Marked(marker, "before", ".leading dot", ".", "..two dots", "after"), "alice@dovecot.test");

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        // Dovecot stores LF line ends; the lines themselves must be as sent.
        var lines = DeliveredText("alice@dovecot.test", marker).Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
        var body = lines.SkipWhile(l => l != "before").Take(5).ToArray();
        Assert.Equal(["before", ".leading dot", ".", "..two dots", "after"], body);
    }

    [Theory]
    [InlineData(DroppingLmtpServer.DropPoint.AfterData)]
    [InlineData(DroppingLmtpServer.DropPoint.AfterFirstRecipientReply)]
    public async Task A_server_that_drops_the_connection_leaves_the_unanswered_recipients_transient(DroppingLmtpServer.DropPoint drop)
    {
        await using var server = DroppingLmtpServer.Start(drop);
        var attempt = await DeliverAsync($"127.0.0.1:{server.EndPoint.Port}", SimpleMessage(), "alice@dovecot.test", "bob@dovecot.test");
        await server.Dropped;

        var alice = ResultFor(attempt, "alice@dovecot.test");
        if (drop == DroppingLmtpServer.DropPoint.AfterFirstRecipientReply)
        {
            // The first reply was final for alice: retrying her would deliver twice.
            Assert.Equal(RecipientOutcome.Delivered, alice.Outcome);
        }
        else
        {
            Assert.Equal(RecipientOutcome.Transient, alice.Outcome);
        }

        var bob = ResultFor(attempt, "bob@dovecot.test");
        Assert.Equal(RecipientOutcome.Transient, bob.Outcome);
        Assert.StartsWith("451 4.4.2", bob.Reply, StringComparison.Ordinal);
        Assert.Equal(DeliveryError.Connect, bob.Error);
    }

    [Fact]
    public async Task No_server_listening_is_transient_without_a_remote_address()
    {
        var address = NextAddress();
        using var refusing = RefusingEndPoint.Bind(address, 0);
        var port = ((IPEndPoint)refusing.LocalEndPoint!).Port;

        var attempt = await DeliverAsync($"{address}:{port}", SimpleMessage(), "alice@dovecot.test");

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.StartsWith("451 4.4.1", result.Reply, StringComparison.Ordinal);
        Assert.Equal(DeliveryError.Connect, result.Error);
        Assert.Null(attempt.RemoteAddress);
        Assert.Null(attempt.Tls);
        Assert.Equal(attempt.Duration, attempt.Setup);
    }

    [Fact]
    public async Task A_server_that_never_answers_times_out_as_transient()
    {
        // The kernel completes the handshake on a listening socket; nobody ever writes the greeting.
        using var silent = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        silent.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        silent.Listen();
        var options = Lmtp($"127.0.0.1:{((IPEndPoint)silent.LocalEndPoint!).Port}");
        options.LmtpCommandTimeout = TimeSpan.FromMilliseconds(300);

        var attempt = await LmtpAgent(OneDomain(Domain, options)).DeliverAsync(Work(Domain, "s@origin.test", "alice@dovecot.test"), SimpleMessage(), Token());

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Timeout, result.Error);
    }
}
