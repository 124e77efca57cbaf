using System.Net;
using Elemta.Contracts;
using Elemta.Delivery.Smtp;
using Elemta.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests;

/// <summary>
/// Outbound connection reuse (<see cref="SmtpConnectionPool"/>) end to end: real TCP to a real SMTP server on
/// loopback, connections counted on the server side, the idle timer driven by a fake clock.
/// </summary>
public sealed class ConnectionReuseTests : IAsyncLifetime
{
    private const string Domain = "example.net";
    private static readonly TimeSpan IdleTimeout = TimeSpan.FromSeconds(5);

    private readonly List<SmtpSink> _sinks = [];
    private readonly List<ClosingSmtpServer> _servers = [];
    private readonly List<SmtpDeliveryAgent> _agents = [];
    private LoopbackDnsServer _dns = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        foreach (var sink in _sinks)
        {
            Assert.Empty(sink.Errors);
            await sink.DisposeAsync();
        }

        foreach (var server in _servers)
        {
            await server.DisposeAsync();
        }

        Assert.Empty(_dns.Errors);
        await _dns.DisposeAsync();
    }

    [Fact]
    public async Task Messages_sent_one_after_another_share_one_connection()
    {
        var sink = StartMx();
        var agent = NewAgent(sink.Port);

        for (var i = 0; i < 5; i++)
        {
            var attempt = await agent.DeliverAsync(Work(Domain, $"sender{i}@origin.test", $"rcpt{i}@example.net"), SimpleMessage(), Token());
            Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        }

        Assert.Equal(1, sink.ConnectionCount);
        Assert.Equal(5, sink.Messages.Count);
        for (var i = 0; i < 5; i++)
        {
            // Each transaction carries its own envelope: nothing leaks from the one before.
            Assert.Equal($"sender{i}@origin.test", sink.Messages[i].MailFrom);
            Assert.Equal([$"rcpt{i}@example.net"], sink.Messages[i].Recipients);
        }

        Assert.Equal(1, agent.Pool.IdleCount);
    }

    [Fact]
    public async Task MaxMessagesPerConnection_makes_the_agent_reconnect()
    {
        var sink = StartMx();
        var agent = NewAgent(sink.Port, o => o.MaxMessagesPerConnection = 2);

        for (var i = 0; i < 5; i++)
        {
            var attempt = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());
            Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        }

        // 2 + 2 + 1: the first two sessions were closed after their second message.
        Assert.Equal(3, sink.ConnectionCount);
        Assert.Equal(5, sink.Messages.Count);
        Assert.Equal(1, agent.Pool.IdleCount);
    }

    [Fact]
    public async Task MaxMessagesPerConnection_of_1_closes_every_connection()
    {
        var server = StartClosingMx(ClosingSmtpServer.ClosingMode.Never);
        var agent = NewAgent(server.EndPoint.Port, o => o.MaxMessagesPerConnection = 1);

        for (var i = 0; i < 3; i++)
        {
            var attempt = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());
            Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        }

        // As before pooling: one connection per message, each ended with QUIT before the delivery returned.
        Assert.Equal(3, server.ConnectionCount);
        Assert.Equal(3, server.QuitCount);
        Assert.Equal(0, agent.Pool.IdleCount);
    }

    [Fact]
    public async Task Concurrent_deliveries_use_separate_connections_and_both_are_reused()
    {
        var sink = StartMx();
        var agent = NewAgent(sink.Port);

        // Each DATA reply waits until the other delivery has reached DATA too: both transactions are provably
        // open at once, which one shared connection could not do.
        await DeliverTogetherAsync(sink, agent, 2);
        Assert.Equal(2, sink.ConnectionCount);
        Assert.Equal(2, agent.Pool.IdleCount);

        await DeliverTogetherAsync(sink, agent, 2);
        Assert.Equal(2, sink.ConnectionCount);
        Assert.Equal(4, sink.Messages.Count);
    }

    [Fact]
    public async Task MaxIdleConnectionsPerDestination_bounds_what_is_kept()
    {
        var sink = StartMx();
        var agent = NewAgent(sink.Port, o => o.MaxIdleConnectionsPerDestination = 1);

        await DeliverTogetherAsync(sink, agent, 2);

        Assert.Equal(2, sink.ConnectionCount);
        Assert.Equal(1, agent.Pool.IdleCount);
    }

    [Fact]
    public async Task MaxIdleConnectionsPerDestination_of_0_turns_reuse_off()
    {
        var sink = StartMx();
        var agent = NewAgent(sink.Port, o => o.MaxIdleConnectionsPerDestination = 0);

        for (var i = 0; i < 2; i++)
        {
            var attempt = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());
            Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        }

        Assert.Equal(2, sink.ConnectionCount);
        Assert.Equal(0, agent.Pool.IdleCount);
    }

    [Fact]
    public async Task Connection_the_server_closed_while_idle_is_replaced_transparently()
    {
        var server = StartClosingMx(ClosingSmtpServer.ClosingMode.AfterEachMessage);
        var agent = NewAgent(server.EndPoint.Port);

        var first = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(first.Results).Outcome);
        await server.WaitForServerCloseAsync();
        Assert.Equal(1, agent.Pool.IdleCount);

        var second = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "b@example.net"), SimpleMessage(), Token());

        var result = Assert.Single(second.Results);
        Assert.Equal(RecipientOutcome.Delivered, result.Outcome);
        Assert.StartsWith("250", result.Reply, StringComparison.Ordinal);
        Assert.Equal(2, server.ConnectionCount);
        Assert.Equal(2, server.MessageCount);
    }

    [Fact]
    public async Task Connection_that_dies_when_reused_is_retried_once_on_a_new_connection()
    {
        // The session looks alive when taken from the pool and breaks at the first command of the next
        // transaction, as when the server's idle timeout races the reuse.
        var server = StartClosingMx(ClosingSmtpServer.ClosingMode.AtSecondMail);
        var agent = NewAgent(server.EndPoint.Port);

        var first = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(first.Results).Outcome);

        var second = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "b@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(second.Results).Outcome);
        Assert.Equal(2, server.ConnectionCount);
        Assert.Equal(2, server.MessageCount);
        Assert.Equal(3, server.Commands.Count(c => c.StartsWith("MAIL", StringComparison.OrdinalIgnoreCase)));
    }

    [Theory]
    [InlineData("MAIL")]
    [InlineData("RCPT")]
    public async Task Reply_421_on_a_reused_connection_is_retried_on_a_new_connection(string command)
    {
        // The second MAIL (or RCPT) overall, the first of the reused session, gets 421 and the sink closes the session.
        var sink = StartMx();
        var mails = 0;
        var closing = new SmtpSinkReply(421, "4.4.2 idle too long, closing");
        if (command == "MAIL")
        {
            sink.OnMailFrom = _ => Interlocked.Increment(ref mails) == 2 ? closing : null;
        }
        else
        {
            sink.OnRecipient = _ => Interlocked.Increment(ref mails) == 2 ? closing : null;
        }

        var agent = NewAgent(sink.Port);

        var first = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());
        var second = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "b@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(first.Results).Outcome);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(second.Results).Outcome);
        Assert.Equal(2, sink.ConnectionCount);
        Assert.Equal(3, mails);
        Assert.Equal(["a@example.net"], sink.Messages[0].Recipients);
        Assert.Equal(["b@example.net"], sink.Messages[1].Recipients);
    }

    [Fact]
    public async Task Reply_421_on_a_new_connection_is_still_a_transient_failure()
    {
        // The retry is for sessions that died in the pool; a fresh session's 421 is the destination's answer.
        var sink = StartMx();
        sink.OnMailFrom = _ => new SmtpSinkReply(421, "4.3.2 shutting down");
        var agent = NewAgent(sink.Port);

        var attempt = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal("421 4.3.2 shutting down", result.Reply);
        Assert.Equal(1, sink.ConnectionCount);
    }

    [Fact]
    public async Task Rejected_transaction_does_not_leave_a_dirty_connection()
    {
        var sink = StartMx();
        var datas = 0;
        sink.OnData = _ => Interlocked.Increment(ref datas) == 1 ? new SmtpSinkReply(550, "5.7.1 refused") : null;
        var agent = NewAgent(sink.Port);

        var refused = await agent.DeliverAsync(Work(Domain, "first@origin.test", "a@example.net", "b@example.net"), SimpleMessage(), Token());
        var next = await agent.DeliverAsync(Work(Domain, "second@origin.test", "c@example.net"), SimpleMessage(), Token());

        Assert.All(refused.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Permanent, r.Outcome);
            Assert.Equal("550 5.7.1 refused", r.Reply);
        });
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(next.Results).Outcome);
        var message = Assert.Single(sink.Messages);
        Assert.Equal("second@origin.test", message.MailFrom);
        Assert.Equal(["c@example.net"], message.Recipients);

        // A session whose transaction failed is closed rather than trusted to be reset.
        Assert.Equal(2, sink.ConnectionCount);
    }

    [Fact]
    public async Task Refused_sender_does_not_leave_a_dirty_connection()
    {
        var sink = StartMx();
        sink.OnMailFrom = from => from == "blocked@origin.test" ? new SmtpSinkReply(550, "5.7.1 sender blocked") : null;
        var agent = NewAgent(sink.Port);

        var refused = await agent.DeliverAsync(Work(Domain, "blocked@origin.test", "a@example.net"), SimpleMessage(), Token());
        var next = await agent.DeliverAsync(Work(Domain, "fine@origin.test", "a@example.net"), SimpleMessage(), Token());

        Assert.Equal("550 5.7.1 sender blocked", Assert.Single(refused.Results).Reply);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(next.Results).Outcome);
        Assert.Equal("fine@origin.test", Assert.Single(sink.Messages).MailFrom);
    }

    [Fact]
    public async Task Recipient_rejections_of_one_message_do_not_carry_over_to_the_next_on_the_same_connection()
    {
        var sink = StartMx();
        var rejecting = true;
        sink.OnRecipient = rcpt => Volatile.Read(ref rejecting) && rcpt == "nobody@example.net" ? new SmtpSinkReply(550, "5.1.1 no such user") : null;
        var agent = NewAgent(sink.Port);

        var first = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "nobody@example.net", "a@example.net"), SimpleMessage(), Token());
        Volatile.Write(ref rejecting, false);
        var second = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "nobody@example.net"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Permanent, ResultFor(first, "nobody@example.net").Outcome);
        Assert.Equal(RecipientOutcome.Delivered, ResultFor(first, "a@example.net").Outcome);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(second.Results).Outcome);
        // A partly rejected message is still a completed transaction: its session was reused.
        Assert.Equal(1, sink.ConnectionCount);
        Assert.Equal(["nobody@example.net"], sink.Messages[1].Recipients);
    }

    [Fact]
    public async Task Idle_connection_is_closed_after_ConnectionIdleTimeout()
    {
        var sink = StartMx();
        var time = new FakeTimeProvider();
        var agent = NewAgent(sink.Port, o => o.ConnectionIdleTimeout = IdleTimeout, time);

        await DeliverOneAsync(agent);
        time.Advance(IdleTimeout - TimeSpan.FromSeconds(1));
        Assert.Equal(1, agent.Pool.IdleCount);

        // Still within the idle timeout: reused, and its idle time starts again now.
        await DeliverOneAsync(agent);
        Assert.Equal(1, sink.ConnectionCount);
        time.Advance(IdleTimeout - TimeSpan.FromSeconds(1));
        Assert.Equal(1, agent.Pool.IdleCount);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Equal(0, agent.Pool.IdleCount);

        await DeliverOneAsync(agent);
        Assert.Equal(2, sink.ConnectionCount);
        Assert.Equal(3, sink.Messages.Count);
    }

    [Fact]
    public async Task Idle_timeout_ends_the_session_with_QUIT()
    {
        var server = StartClosingMx(ClosingSmtpServer.ClosingMode.Never);
        var time = new FakeTimeProvider();
        var agent = NewAgent(server.EndPoint.Port, o => o.ConnectionIdleTimeout = IdleTimeout, time);

        await DeliverOneAsync(agent);
        Assert.Equal(0, server.QuitCount);

        time.Advance(IdleTimeout);

        await server.WaitForQuitAsync();
        Assert.Equal(1, server.QuitCount);
        Assert.Equal(0, agent.Pool.IdleCount);
    }

    [Fact]
    public async Task Disposing_the_agent_ends_idle_sessions_with_QUIT()
    {
        var server = StartClosingMx(ClosingSmtpServer.ClosingMode.Never);
        var agent = NewAgent(server.EndPoint.Port);
        await DeliverOneAsync(agent);

        await agent.DisposeAsync();

        // DisposeAsync waits for the reply to QUIT, which the server sends after counting it.
        Assert.Equal(1, server.QuitCount);
        Assert.Equal(0, agent.Pool.IdleCount);
    }

    [Fact]
    public async Task Agent_registered_in_DI_is_disposed_with_the_container_and_ends_its_sessions()
    {
        var server = StartClosingMx(ClosingSmtpServer.ClosingMode.Never);
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"{server.EndPoint.Address}:{server.EndPoint.Port}",
            ["Elemta:Delivery:HeloName"] = "relay.test",
            ["Elemta:Dns:Servers:0"] = _dns.EndPoint.ToString(),
        }).Build();
        var services = new ServiceCollection().AddLogging().AddElemtaDelivery(configuration);

        await using (var provider = services.BuildServiceProvider())
        {
            var agent = provider.GetRequiredService<IDeliveryAgent>();
            var attempt = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());
            Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
            Assert.Equal(0, server.QuitCount);
        }

        Assert.Equal(1, server.QuitCount);
    }

    [Theory]
    [InlineData("MaxMessagesPerConnection", "0")]
    [InlineData("ConnectionIdleTimeout", "00:00:00")]
    [InlineData("ConnectionIdleTimeout", "00:05:01")]
    [InlineData("MaxIdleConnectionsPerDestination", "-1")]
    public void Invalid_pool_settings_are_refused(string key, string value)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            [$"Elemta:Delivery:{key}"] = value,
        }).Build();
        using var provider = new ServiceCollection().AddLogging().AddElemtaDelivery(configuration).BuildServiceProvider();

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<DeliveryOptions>>().Value);
        Assert.Contains(key, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Pool_settings_have_the_documented_defaults()
    {
        var options = new DeliveryOptions();

        Assert.Equal(100, options.MaxMessagesPerConnection);
        Assert.Equal(TimeSpan.FromSeconds(5), options.ConnectionIdleTimeout);
        Assert.Equal(10, options.MaxIdleConnectionsPerDestination);
    }

    [Fact]
    public async Task Different_destinations_do_not_share_connections()
    {
        var (first, second) = await StartSinkPairAsync();
        _sinks.Add(first);
        _sinks.Add(second);
        _dns.AddMx("one.test", 10, "mx.one.test");
        _dns.AddA("mx.one.test", first.EndPoint.Address);
        _dns.AddMx("two.test", 10, "mx.two.test");
        _dns.AddA("mx.two.test", second.EndPoint.Address);
        var agent = NewAgent(first.Port);

        foreach (var domain in new[] { "one.test", "two.test", "one.test", "two.test" })
        {
            var attempt = await agent.DeliverAsync(Work(domain, "sender@origin.test", $"a@{domain}"), SimpleMessage(), Token());
            Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        }

        Assert.Equal(1, first.ConnectionCount);
        Assert.Equal(1, second.ConnectionCount);
        Assert.All(first.Messages, m => Assert.Equal(["a@one.test"], m.Recipients));
        Assert.All(second.Messages, m => Assert.Equal(["a@two.test"], m.Recipients));
    }

    /// <summary>A sink on a fresh loopback address, published as the only MX of <see cref="Domain"/>.</summary>
    private SmtpSink StartMx()
    {
        var sink = SmtpSink.Start(NextAddress());
        _sinks.Add(sink);
        _dns.AddMx(Domain, 10, "mx.example.net");
        _dns.AddA("mx.example.net", sink.EndPoint.Address);
        return sink;
    }

    private ClosingSmtpServer StartClosingMx(ClosingSmtpServer.ClosingMode mode)
    {
        var server = ClosingSmtpServer.Start(NextAddress(), mode);
        _servers.Add(server);
        _dns.AddMx(Domain, 10, "mx.example.net");
        _dns.AddA("mx.example.net", server.EndPoint.Address);
        return server;
    }

    private SmtpDeliveryAgent NewAgent(int smtpPort, Action<DeliveryOptions>? configure = null, TimeProvider? timeProvider = null)
    {
        var options = DeliveryOptionsFor(smtpPort);
        configure?.Invoke(options);
        var agent = Agent(_dns, options, timeProvider);
        _agents.Add(agent);
        return agent;
    }

    private static async Task DeliverOneAsync(SmtpDeliveryAgent agent)
    {
        var attempt = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token());
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
    }

    /// <summary>Runs <paramref name="count"/> deliveries whose DATA replies wait for each other, so all are in flight at once.</summary>
    private static async Task DeliverTogetherAsync(SmtpSink sink, SmtpDeliveryAgent agent, int count)
    {
        using var barrier = new Barrier(count);
        sink.OnData = _ => barrier.SignalAndWait(Long) ? null : throw new TimeoutException("the deliveries did not overlap");
        try
        {
            var attempts = await Task.WhenAll(Enumerable.Range(0, count).Select(_ =>
                Task.Run(() => agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net"), SimpleMessage(), Token()))));
            Assert.All(attempts, a => Assert.Equal(RecipientOutcome.Delivered, Assert.Single(a.Results).Outcome));
        }
        finally
        {
            sink.OnData = null;
        }
    }
}
