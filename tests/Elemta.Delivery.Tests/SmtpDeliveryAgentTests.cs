using System.Net;
using Elemta.Contracts;
using Elemta.Delivery.Smtp;
using Elemta.Testing;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests;

/// <summary>The agent end to end: real DNS answers, real TCP, a real SMTP server on loopback.</summary>
public sealed class SmtpDeliveryAgentTests : IAsyncLifetime
{
    private const string Domain = "example.net";
    private LoopbackDnsServer _dns = null!;
    private readonly List<SmtpSink> _sinks = [];
    private readonly List<SmtpDeliveryAgent> _agents = [];

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        // Agents first: they end their pooled sessions with QUIT while the sinks still listen.
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        foreach (var sink in _sinks)
        {
            Assert.Empty(sink.Errors);
            await sink.DisposeAsync();
        }

        Assert.Empty(_dns.Errors);
        await _dns.DisposeAsync();
    }

    /// <summary>A sink on a fresh loopback address, published as the only MX of <see cref="Domain"/>.</summary>
    private SmtpSink StartMx()
    {
        var sink = Track(SmtpSink.Start(NextAddress()));
        _dns.AddMx(Domain, 10, "mx.example.net");
        _dns.AddA("mx.example.net", sink.EndPoint.Address);
        return sink;
    }

    /// <summary>
    /// <see cref="DeliveryTestKit.Agent(LoopbackDnsServer, int, IReadOnlyDictionary{string, string}?)"/>, disposed
    /// with the test. Being a member, it is the one the tests below call rather than the static import.
    /// </summary>
    private SmtpDeliveryAgent Agent(LoopbackDnsServer dns, int smtpPort, IReadOnlyDictionary<string, string>? routes = null)
    {
        var agent = DeliveryTestKit.Agent(dns, smtpPort, routes);
        _agents.Add(agent);
        return agent;
    }

    private SmtpSink Track(SmtpSink sink)
    {
        _sinks.Add(sink);
        return sink;
    }

    [Fact]
    public async Task Message_arrives_byte_for_byte_with_its_envelope()
    {
        var sink = StartMx();
        var content = Crlf(
            "Received: from client.origin.test by relay.test; Mon, 02 Mar 2026 10:00:00 +0000",
            "From: \"Sender\" <sender@origin.test>",
            "To: a@example.net, b@example.net",
            "Subject:   spaced   and",
            "\tfolded subject",
            "Message-ID: <dots@origin.test>",
            "Date: Mon, 02 Mar 2026 10:00:00 +0000",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=us-ascii",
            "X-Odd-Header:no space after colon",
            string.Empty,
            "first line",
            ".leading dot",
            "..two leading dots",
            ".",
            string.Empty,
            "trailing spaces   ",
            "last line");
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(work, content, Token());

        Assert.All(attempt.Results, r => Assert.Equal(RecipientOutcome.Delivered, r.Outcome));
        Assert.Equal(["a@example.net", "b@example.net"], attempt.Results.Select(r => r.Address));
        Assert.All(attempt.Results, r => Assert.StartsWith("250", r.Reply, StringComparison.Ordinal));
        var message = Assert.Single(sink.Messages);
        Assert.Equal("sender@origin.test", message.MailFrom);
        Assert.Equal(["a@example.net", "b@example.net"], message.Recipients);
        Assert.Equal("relay.test", message.HeloName);
        Assert.Equal(System.Text.Encoding.ASCII.GetString(content), System.Text.Encoding.ASCII.GetString(message.Data));
        Assert.Equal(content, message.Data);
        Assert.Contains(sink.EndPoint.Address.ToString(), attempt.RemoteHost, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Eight_bit_body_arrives_unchanged()
    {
        var sink = StartMx();
        var content = Crlf(
            "From: sender@origin.test",
            "To: a@example.net",
            "Subject: =?utf-8?q?gr=C3=BC=C3=9Fe?=",
            "MIME-Version: 1.0",
            "Content-Type: text/plain; charset=utf-8",
            "Content-Transfer-Encoding: 8bit",
            string.Empty,
            "Grüße aus Köln – ünïcödé",
            "λ");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), content, Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal(content, Assert.Single(sink.Messages).Data);
    }

    [Theory]
    [InlineData("plain message, no MIME", "From: sender@origin.test\r\nTo: a@example.net\r\nSubject: long\r\n\r\n")]
    [InlineData("HTML part of a multipart", "From: sender@origin.test\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nshort\r\n--b\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n")]
    public async Task Lines_longer_than_998_octets_reach_the_next_hop_re_encoded_so_no_line_is_too_long_and_no_octet_is_lost(string description, string head)
    {
        var sink = StartMx();
        // Generated HTML with no line breaks, 8-bit text in it, and a dot where folding would have put a line start.
        var longLine = "<p>" + string.Concat(Enumerable.Repeat("Grüße from a generator that never wraps. ", 120)) + "</p>";
        var text = head + longLine + "\r\nsecond line\r\n" + (head.Contains("--b", StringComparison.Ordinal) ? "--b--\r\n" : string.Empty);
        var content = System.Text.Encoding.UTF8.GetBytes(text);
        Assert.True(System.Text.Encoding.UTF8.GetByteCount(longLine) > 5000, description);

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), content, Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        var received = Assert.Single(sink.Messages).Data;
        // No line the next hop would refuse (RFC 5321 §4.5.3.1.6: 998 octets plus CRLF) ...
        var lines = System.Text.Encoding.UTF8.GetString(received).Split("\r\n");
        Assert.All(lines, l => Assert.True(System.Text.Encoding.UTF8.GetByteCount(l) <= 998, $"{description}: a line of {l.Length} characters"));
        // ... and a reader decodes the very text that was sent.
        using var parsed = MimeKit.MimeMessage.Load(new MemoryStream(received));
        var part = parsed.BodyParts.OfType<MimeKit.TextPart>().Last();
        Assert.Equal(MimeKit.ContentEncoding.QuotedPrintable, part.ContentTransferEncoding);
        // (In a multipart, the CRLF before the boundary belongs to the boundary, RFC 2046 §5.1.1.)
        // TextPart.Text gives line ends as the platform's; the octets of each line are what matters here.
        Assert.Equal(longLine + "\nsecond line", part.Text.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n'));
        Assert.Equal("1.0", parsed.Headers[MimeKit.HeaderId.MimeVersion]?.Trim());
    }

    [Theory]
    [InlineData("8-bit body without Content-Transfer-Encoding",
        "From: sender@origin.test\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nGrüße\r\n")]
    [InlineData("Content-Type without MIME-Version",
        "From: sender@origin.test\r\nContent-Type: text/plain\r\n\r\nbody\r\n")]
    public async Task Content_that_MimeKit_would_normalise_still_arrives_unchanged(string description, string text)
    {
        var sink = StartMx();
        var content = System.Text.Encoding.UTF8.GetBytes(text);

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), content, Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.True(content.AsSpan().SequenceEqual(Assert.Single(sink.Messages).Data), description);
    }

    [Fact]
    public async Task A_message_without_a_body_gains_only_the_empty_line_that_ends_its_header()
    {
        // MimeKit always writes the header/body separator; that line is the one change left on relay.
        var sink = StartMx();
        var content = System.Text.Encoding.ASCII.GetBytes("From: sender@origin.test\r\nSubject: no body\r\n");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), content, Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal([.. content, (byte)'\r', (byte)'\n'], Assert.Single(sink.Messages).Data);
    }

    [Fact]
    public async Task A_REQUIRETLS_message_is_never_sent_to_a_host_without_TLS_and_is_returned_permanently()
    {
        // The sink offers no STARTTLS: RFC 8689 forbids sending there, and no later attempt could do better.
        var sink = StartMx();
        var agent = Agent(_dns, sink.Port);

        var attempt = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net") with { RequireTls = true }, SimpleMessage(), Token());

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Permanent, result.Outcome);
        Assert.StartsWith("550 5.7.10 REQUIRETLS", result.Reply, StringComparison.Ordinal);
        Assert.Empty(sink.Messages);

        // Ordinary mail to the same host still goes, opportunistically.
        var plain = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(plain.Results).Outcome);
        Assert.Single(sink.Messages);
    }

    [Fact]
    public async Task A_REQUIRETLS_message_does_not_ride_on_a_pooled_opportunistic_session()
    {
        var sink = StartMx();
        var agent = Agent(_dns, sink.Port);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single((await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token())).Results).Outcome);

        // An idle plaintext session to the host is pooled now; the REQUIRETLS message must not use it.
        var attempt = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "b@example.net") with { RequireTls = true }, SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Permanent, Assert.Single(attempt.Results).Outcome);
        Assert.Single(sink.Messages);
    }

    [Fact]
    public async Task Null_sender_is_sent_as_an_empty_reverse_path()
    {
        var sink = StartMx();
        string? seenMailFrom = null;
        sink.OnMailFrom = from =>
        {
            seenMailFrom = from;
            return null;
        };

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(Work(Domain, string.Empty, "a@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal(string.Empty, seenMailFrom);
        Assert.Equal(string.Empty, Assert.Single(sink.Messages).MailFrom);
    }

    [Fact]
    public async Task Recipient_rejected_with_550_is_permanent_and_the_others_are_delivered()
    {
        var sink = StartMx();
        sink.OnRecipient = rcpt => rcpt == "nobody@example.net" ? new SmtpSinkReply(550, "5.1.1 no such user") : null;
        var work = Work(Domain, "sender@origin.test", "a@example.net", "nobody@example.net", "b@example.net");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(work, SimpleMessage(), Token());

        Assert.Equal(3, attempt.Results.Length);
        var rejected = ResultFor(attempt, "nobody@example.net");
        Assert.Equal(RecipientOutcome.Permanent, rejected.Outcome);
        Assert.Equal("550 5.1.1 no such user", rejected.Reply);
        Assert.Equal(RecipientOutcome.Delivered, ResultFor(attempt, "a@example.net").Outcome);
        Assert.Equal(RecipientOutcome.Delivered, ResultFor(attempt, "b@example.net").Outcome);
        Assert.Equal(["a@example.net", "b@example.net"], Assert.Single(sink.Messages).Recipients);
    }

    [Fact]
    public async Task Recipient_deferred_with_451_is_transient_and_the_others_are_delivered()
    {
        var sink = StartMx();
        sink.OnRecipient = rcpt => rcpt == "later@example.net" ? new SmtpSinkReply(451, "4.2.0 greylisted, try later") : null;
        var work = Work(Domain, "sender@origin.test", "later@example.net", "a@example.net");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(work, SimpleMessage(), Token());

        var deferred = ResultFor(attempt, "later@example.net");
        Assert.Equal(RecipientOutcome.Transient, deferred.Outcome);
        Assert.Equal("451 4.2.0 greylisted, try later", deferred.Reply);
        Assert.Equal(RecipientOutcome.Delivered, ResultFor(attempt, "a@example.net").Outcome);
        Assert.Equal(["a@example.net"], Assert.Single(sink.Messages).Recipients);
    }

    [Fact]
    public async Task Every_recipient_rejected_keeps_its_own_reply_and_nothing_is_sent()
    {
        var sink = StartMx();
        sink.OnRecipient = rcpt => rcpt.StartsWith("gone", StringComparison.Ordinal)
            ? new SmtpSinkReply(550, "5.1.1 no such user")
            : new SmtpSinkReply(452, "4.2.2 mailbox full");
        var work = Work(Domain, "sender@origin.test", "gone@example.net", "full@example.net");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(work, SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Permanent, ResultFor(attempt, "gone@example.net").Outcome);
        Assert.Equal("550 5.1.1 no such user", ResultFor(attempt, "gone@example.net").Reply);
        Assert.Equal(RecipientOutcome.Transient, ResultFor(attempt, "full@example.net").Outcome);
        Assert.Equal("452 4.2.2 mailbox full", ResultFor(attempt, "full@example.net").Reply);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Data_rejected_with_554_makes_every_recipient_permanent()
    {
        var sink = StartMx();
        sink.OnData = _ => new SmtpSinkReply(554, "5.7.1 message refused");
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(work, SimpleMessage(), Token());

        Assert.Equal(2, attempt.Results.Length);
        Assert.All(attempt.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Permanent, r.Outcome);
            Assert.Equal("554 5.7.1 message refused", r.Reply);
        });
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Data_deferred_with_451_makes_every_recipient_transient()
    {
        var sink = StartMx();
        sink.OnData = _ => new SmtpSinkReply(451, "4.3.0 try again");
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(work, SimpleMessage(), Token());

        Assert.All(attempt.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Transient, r.Outcome);
            Assert.Equal("451 4.3.0 try again", r.Reply);
        });
    }

    [Fact]
    public async Task Sender_rejected_with_550_makes_every_recipient_permanent()
    {
        var sink = StartMx();
        sink.OnMailFrom = _ => new SmtpSinkReply(550, "5.7.1 sender blocked");
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(work, SimpleMessage(), Token());

        Assert.All(attempt.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Permanent, r.Outcome);
            Assert.Equal("550 5.7.1 sender blocked", r.Reply);
        });
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Sender_deferred_with_451_makes_every_recipient_transient()
    {
        var sink = StartMx();
        sink.OnMailFrom = _ => new SmtpSinkReply(451, "4.7.1 greylisted, try later");
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(work, SimpleMessage(), Token());

        Assert.All(attempt.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Transient, r.Outcome);
            Assert.Equal("451 4.7.1 greylisted, try later", r.Reply);
        });
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Bcc_header_is_relayed_unchanged()
    {
        var sink = StartMx();
        var content = Crlf(
            "From: sender@origin.test",
            "To: a@example.net",
            "Bcc: hidden@example.net",
            "Subject: bcc",
            string.Empty,
            "body");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), content, Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal(System.Text.Encoding.ASCII.GetString(content), System.Text.Encoding.ASCII.GetString(Assert.Single(sink.Messages).Data));
    }

    [Fact]
    public async Task Lowest_preference_mx_receives_the_message()
    {
        var (primary, secondary) = await StartSinkPairAsync();
        Track(primary);
        Track(secondary);
        _dns.AddMx(Domain, 20, "mx2.example.net");
        _dns.AddMx(Domain, 10, "mx1.example.net");
        _dns.AddA("mx1.example.net", primary.EndPoint.Address);
        _dns.AddA("mx2.example.net", secondary.EndPoint.Address);

        var attempt = await Agent(_dns, primary.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Single(primary.Messages);
        Assert.Equal(0, secondary.ConnectionCount);
        Assert.StartsWith("mx1.example.net", attempt.RemoteHost, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Next_mx_is_used_when_the_preferred_one_refuses_connections()
    {
        var secondary = Track(SmtpSink.Start(NextAddress()));
        var deadAddress = NextAddress();
        using var refusing = RefusingEndPoint.Bind(deadAddress, secondary.Port);
        _dns.AddMx(Domain, 10, "mx1.example.net");
        _dns.AddMx(Domain, 20, "mx2.example.net");
        _dns.AddA("mx1.example.net", deadAddress);
        _dns.AddA("mx2.example.net", secondary.EndPoint.Address);

        var attempt = await Agent(_dns, secondary.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Single(secondary.Messages);
        Assert.StartsWith("mx2.example.net", attempt.RemoteHost, StringComparison.Ordinal);
        // Setup (the delivery line's c) covers DNS and both connections, up to MAIL FROM; the transfer is the rest.
        Assert.True(attempt.Setup > TimeSpan.Zero && attempt.Setup < attempt.Duration, $"setup {attempt.Setup} within {attempt.Duration}");
    }

    [Fact]
    public async Task Next_mx_is_used_when_the_preferred_one_has_no_address()
    {
        var secondary = Track(SmtpSink.Start(NextAddress()));
        _dns.AddMx(Domain, 10, "mx1.example.net");
        _dns.AddMx(Domain, 20, "mx2.example.net");
        _dns.SetNxDomain("mx1.example.net");
        _dns.AddA("mx2.example.net", secondary.EndPoint.Address);

        var attempt = await Agent(_dns, secondary.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Single(secondary.Messages);
    }

    [Fact]
    public async Task Next_mx_is_used_when_the_preferred_one_greets_with_421()
    {
        var (primary, secondary) = await StartSinkPairAsync();
        Track(primary);
        Track(secondary);
        primary.ConnectReply = new SmtpSinkReply(421, "4.3.2 too busy");
        _dns.AddMx(Domain, 10, "mx1.example.net");
        _dns.AddMx(Domain, 20, "mx2.example.net");
        _dns.AddA("mx1.example.net", primary.EndPoint.Address);
        _dns.AddA("mx2.example.net", secondary.EndPoint.Address);

        var attempt = await Agent(_dns, primary.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal(1, primary.ConnectionCount);
        Assert.Empty(primary.Messages);
        Assert.Single(secondary.Messages);
    }

    [Fact]
    public async Task Next_address_of_the_same_mx_is_used_when_the_first_refuses()
    {
        var sink = Track(SmtpSink.Start(NextAddress()));
        var deadAddress = NextAddress();
        using var refusing = RefusingEndPoint.Bind(deadAddress, sink.Port);
        _dns.AddMx(Domain, 10, "mx.example.net");
        _dns.AddA("mx.example.net", deadAddress);
        _dns.AddA("mx.example.net", sink.EndPoint.Address);

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Single(sink.Messages);
    }

    [Fact]
    public async Task Greeting_421_from_the_only_mx_makes_every_recipient_transient()
    {
        var sink = StartMx();
        sink.ConnectReply = new SmtpSinkReply(421, "4.3.2 too busy");
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(work, SimpleMessage(), Token());

        Assert.Equal(2, attempt.Results.Length);
        Assert.All(attempt.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Transient, r.Outcome);
            Assert.StartsWith("421", r.Reply, StringComparison.Ordinal);
        });
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Refused_connection_to_the_only_mx_makes_every_recipient_transient()
    {
        var deadAddress = NextAddress();
        using var refusing = RefusingEndPoint.Bind(deadAddress, 0);
        var port = ((IPEndPoint)refusing.LocalEndPoint!).Port;
        _dns.AddMx(Domain, 10, "mx.example.net");
        _dns.AddA("mx.example.net", deadAddress);
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, port).DeliverAsync(work, SimpleMessage(), Token());

        Assert.Equal(2, attempt.Results.Length);
        Assert.All(attempt.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Transient, r.Outcome);
            Assert.StartsWith("451 4.4.1", r.Reply, StringComparison.Ordinal);
        });
        Assert.Contains(deadAddress.ToString(), attempt.RemoteHost, StringComparison.Ordinal);
        // No transfer began: the whole attempt was connection setup.
        Assert.Equal(attempt.Duration, attempt.Setup);
    }

    [Fact]
    public async Task Null_mx_makes_every_recipient_permanent_with_556()
    {
        _dns.AddMx(Domain, 0, ".");
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, 25).DeliverAsync(work, SimpleMessage(), Token());

        Assert.Equal(2, attempt.Results.Length);
        Assert.All(attempt.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Permanent, r.Outcome);
            Assert.StartsWith("556 5.1.10", r.Reply, StringComparison.Ordinal);
        });
        Assert.Equal(string.Empty, attempt.RemoteHost);
    }

    [Fact]
    public async Task Nxdomain_makes_every_recipient_permanent()
    {
        _dns.SetNxDomain(Domain);
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, 25).DeliverAsync(work, SimpleMessage(), Token());

        Assert.All(attempt.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Permanent, r.Outcome);
            Assert.StartsWith("550 5.1.2", r.Reply, StringComparison.Ordinal);
        });
    }

    [Fact]
    public async Task Servfail_makes_every_recipient_transient()
    {
        _dns.SetServerFailure(Domain);
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, 25).DeliverAsync(work, SimpleMessage(), Token());

        Assert.Equal(2, attempt.Results.Length);
        Assert.All(attempt.Results, r => Assert.Equal(RecipientOutcome.Transient, r.Outcome));
    }

    [Fact]
    public async Task Dns_timeout_makes_every_recipient_transient()
    {
        _dns.SetNoResponse(Domain);
        var work = Work(Domain, "sender@origin.test", "a@example.net", "b@example.net");

        var attempt = await Agent(_dns, 25).DeliverAsync(work, SimpleMessage(), Token());

        Assert.Equal(2, attempt.Results.Length);
        Assert.All(attempt.Results, r => Assert.Equal(RecipientOutcome.Transient, r.Outcome));
    }

    [Fact]
    public async Task Domain_without_mx_is_delivered_to_its_own_address()
    {
        var sink = Track(SmtpSink.Start(NextAddress()));
        _dns.AddA(Domain, sink.EndPoint.Address);

        var attempt = await Agent(_dns, sink.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal(["a@example.net"], Assert.Single(sink.Messages).Recipients);
    }

    [Fact]
    public async Task Route_delivers_without_asking_dns()
    {
        var sink = Track(SmtpSink.Start());
        var routes = new Dictionary<string, string> { [Domain] = $"127.0.0.1:{sink.Port}" };

        // The MX port deliberately differs from the sink's: only the route's port can reach it.
        var attempt = await Agent(_dns, 25, routes).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Single(sink.Messages);
        Assert.Equal(0, _dns.QueryCount);
    }

    [Fact]
    public async Task Route_to_an_IPv6_literal_delivers()
    {
        var sink = Track(SmtpSink.Start(IPAddress.IPv6Loopback));
        var routes = new Dictionary<string, string> { [Domain] = $"[::1]:{sink.Port}" };

        var attempt = await Agent(_dns, 25, routes).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Single(sink.Messages);
        Assert.Equal(0, _dns.QueryCount);
    }
}
