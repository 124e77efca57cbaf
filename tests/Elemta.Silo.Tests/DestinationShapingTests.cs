using System.Net;
using System.Net.Sockets;
using System.Text;
using Elemta.Contracts;
using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>
/// Per-destination traffic shaping and the circuit breaker through the real silo: budgets shared by every domain of
/// one site, rate limits, adaptation to "slow down" replies, and a dead destination that is backed off as a whole.
/// </summary>
public sealed class DestinationShapingTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    private static Task<string> SendAsync(SiloProcess silo, string subject, string recipient) =>
        EndToEndTests.SendRawAsync(silo.SmtpPort, "alice@example.org", [recipient], Encoding.ASCII.GetBytes(
            $"From: alice@example.org\r\nTo: {recipient}\r\nSubject: {subject}\r\nMessage-ID: <{Guid.NewGuid():N}@example.org>\r\n" +
            "Date: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nbody\r\n"));

    [Fact]
    public async Task Two_domains_on_one_site_share_its_concurrency_limit()
    {
        var current = 0;
        var highest = 0;
        await using var destination = SmtpSink.Start();
        destination.OnMailFrom = _ =>
        {
            var now = Interlocked.Increment(ref current);
            InterlockedMax(ref highest, now);
            return null;
        };
        destination.OnData = _ =>
        {
            // A slow server: each transaction holds its slot long enough for deliveries to overlap if allowed.
            Thread.Sleep(150);
            Interlocked.Decrement(ref current);
            return null;
        };
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:one.test"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Delivery:Routes:two.test"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Queue:Destinations:MaxConcurrency"] = "2",
        });

        var sends = new List<Task<string>>();
        for (var i = 0; i < 8; i++)
        {
            sends.Add(SendAsync(silo, $"m{i}", i % 2 == 0 ? "a@one.test" : "b@two.test"));
        }

        await Task.WhenAll(sends);
        await destination.WaitForCountAsync(8, Timeout);

        Assert.InRange(Volatile.Read(ref highest), 1, 2);
        await using var client = await silo.ConnectClientAsync();
        var site = await client.GetDestinationAsync($"route:127.0.0.1:{destination.Port}");
        Assert.Equal(2, site.MaxConcurrency);
        Assert.Equal(0, site.InFlight);
    }

    [Fact]
    public async Task A_site_rate_limit_spaces_deliveries_and_the_queue_says_it_is_throttled()
    {
        await using var destination = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Queue:Destinations:MessagesPerMinute"] = "1",
        });
        await using var client = await silo.ConnectClientAsync();

        await SendAsync(silo, "first", "a@example.net");
        await destination.WaitForCountAsync(1, Timeout);
        var second = await SendAsync(silo, "second", "b@example.net");

        var explanation = await Eventually.GetAsync(() => client.ExplainDomainAsync("example.net"),
            e => e.Summary.StartsWith("throttled by destination", StringComparison.Ordinal), Timeout, "the queue to report the rate limit");
        Assert.Contains($"route:127.0.0.1:{destination.Port}", explanation.Summary, StringComparison.Ordinal);
        Assert.Single(destination.Messages);
        Assert.Equal(MessageQueueState.Active, (await client.GetMessageAsync(second))!.State);
    }

    [Fact]
    public async Task Slow_down_replies_lower_the_site_limits()
    {
        var refusals = 3;
        await using var destination = SmtpSink.Start();
        destination.OnMailFrom = _ => Interlocked.Decrement(ref refusals) >= 0 ? new SmtpSinkReply(421, "4.7.0 too many connections from your IP") : null;
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{destination.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:00.2",
            ["Elemta:Queue:Destinations:MaxConcurrency"] = "16",
            ["Elemta:Queue:Destinations:RecoverAfterSuccesses"] = "1000",
        });
        await using var client = await silo.ConnectClientAsync();

        await SendAsync(silo, "slowed", "a@example.net");
        await destination.WaitForCountAsync(1, Timeout);

        var site = await client.GetDestinationAsync($"route:127.0.0.1:{destination.Port}");
        Assert.Equal(3, site.Throttled);
        Assert.Equal(2, site.ConcurrencyLimit);
        Assert.NotNull(site.LastThrottledAt);
    }

    [Fact]
    public async Task A_dead_destination_opens_the_circuit_instead_of_trying_every_message()
    {
        // A port with nothing behind it: every connection is refused at once, and no other test's listener can take it.
        using var dead = RefusingEndPoint.Bind(IPAddress.Loopback);
        var deadPort = RefusingEndPoint.PortOf(dead);

        await using var alive = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:dead.test"] = $"127.0.0.1:{deadPort}",
            ["Elemta:Delivery:Routes:alive.test"] = $"127.0.0.1:{alive.Port}",
            ["Elemta:Queue:RetrySchedule:0"] = "01:00:00",
            ["Elemta:Queue:CircuitBreakerThreshold"] = "2",
            ["Elemta:Queue:MaxConcurrentDeliveriesPerDomain"] = "1",
        });
        await using var client = await silo.ConnectClientAsync();

        var ids = new List<string>();
        for (var i = 0; i < 6; i++)
        {
            ids.Add(await SendAsync(silo, $"dead {i}", $"user{i}@dead.test"));
        }

        var open = await Eventually.GetAsync(() => client.ExplainDomainAsync("dead.test"), e => e.Circuit == CircuitState.Open, Timeout, "the circuit to open");
        Assert.Equal(2, open.ConsecutiveFailures);
        Assert.StartsWith("circuit open until", open.Summary, StringComparison.Ordinal);
        Assert.True(open.CircuitOpenUntil > DateTimeOffset.UtcNow.AddMinutes(30));

        // Mail to another destination is not held up by the dead one.
        await SendAsync(silo, "alive", "bob@alive.test");
        await alive.WaitForCountAsync(1, Timeout);

        // Only the attempts before the circuit opened were made; the other messages wait untried.
        var attempted = 0;
        foreach (var id in ids)
        {
            attempted += (await client.GetMessageAsync(id))!.Recipients.Single().Attempts;
        }

        Assert.Equal(2, attempted);
        Assert.Equal(2, (await client.ExplainDomainAsync("dead.test")).ConsecutiveFailures);

        // An operator's retry-now closes the circuit and the queue tries again (and, the port still being dead, soon
        // opens it again after another two failures).
        await client.ApplyToDomainAsync("dead.test", QueueAction.RetryNow);
        await Eventually.GetAsync(async () =>
        {
            var total = 0;
            foreach (var id in ids)
            {
                total += (await client.GetMessageAsync(id))!.Recipients.Single().Attempts;
            }

            return total;
        }, total => total > 2, Timeout, "attempts after retry-now");
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int seen;
        while ((seen = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, seen) != seen)
        {
        }
    }
}
