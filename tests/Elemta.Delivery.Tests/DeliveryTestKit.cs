using System.Net;
using System.Net.Sockets;
using System.Text;
using Elemta.Contracts;
using Elemta.Delivery.Dns;
using Elemta.Delivery.Smtp;
using Elemta.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Tests;

/// <summary>Builds the real resolver and agent against loopback peers, plus the bits every test needs.</summary>
internal static class DeliveryTestKit
{
    /// <summary>Upper bound for a whole delivery in a test; only reached when something is broken.</summary>
    public static readonly TimeSpan Long = TimeSpan.FromSeconds(30);

    private static int _nextAddress;

    public static CancellationToken Token() => new CancellationTokenSource(Long).Token;

    /// <summary>
    /// A loopback address (127.77.x.y) used by no other test in this run, so tests that need "nothing listens
    /// here" or two hosts on one port cannot meet each other when run in parallel. Linux routes all of 127/8 to lo.
    /// </summary>
    public static IPAddress NextAddress()
    {
        var n = Interlocked.Increment(ref _nextAddress);
        return new IPAddress([127, 77, (byte)(n / 250), (byte)((n % 250) + 1)]);
    }

    public static DnsOptions DnsOptionsFor(LoopbackDnsServer dns) => new()
    {
        Servers = [dns.EndPoint.ToString()],
        // Generous: on a loaded CI machine a loopback answer has been seen to take over a second. Only the two tests
        // of a name server that never answers wait this long.
        Retries = 0,
        Timeout = TimeSpan.FromSeconds(4),
        UseCache = false,
    };

    public static DeliveryOptions DeliveryOptionsFor(int smtpPort, IReadOnlyDictionary<string, string>? routes = null)
    {
        var options = new DeliveryOptions
        {
            SmtpPort = smtpPort,
            HeloName = "relay.test",
            ConnectTimeout = TimeSpan.FromSeconds(3),
            CommandTimeout = TimeSpan.FromSeconds(15),
        };
        foreach (var (domain, target) in routes ?? new Dictionary<string, string>())
        {
            options.Routes[domain] = target;
        }

        return options;
    }

    public static MxResolver Resolver(LoopbackDnsServer dns, int smtpPort, IReadOnlyDictionary<string, string>? routes = null) =>
        new(Options.Create(DeliveryOptionsFor(smtpPort, routes)), Options.Create(DnsOptionsFor(dns)));

    public static SmtpDeliveryAgent Agent(LoopbackDnsServer dns, int smtpPort, IReadOnlyDictionary<string, string>? routes = null)
    {
        var delivery = Options.Create(DeliveryOptionsFor(smtpPort, routes));
        var resolver = new MxResolver(delivery, Options.Create(DnsOptionsFor(dns)));
        return new SmtpDeliveryAgent(resolver, delivery, TimeProvider.System, NullLogger<SmtpDeliveryAgent>.Instance);
    }

    /// <summary>An agent with the given settings (see <see cref="DeliveryOptionsFor"/>) and clock; the caller disposes it.</summary>
    public static SmtpDeliveryAgent Agent(LoopbackDnsServer dns, DeliveryOptions options, TimeProvider? timeProvider = null)
    {
        var delivery = Options.Create(options);
        var resolver = new MxResolver(delivery, Options.Create(DnsOptionsFor(dns)));
        return new SmtpDeliveryAgent(resolver, delivery, timeProvider ?? TimeProvider.System, NullLogger<SmtpDeliveryAgent>.Instance);
    }

    public static DeliveryWork Work(string domain, string sender, params string[] recipients) =>
        new($"msg-{Guid.NewGuid():N}", sender, domain, [.. recipients], MessagePriority.Normal);

    /// <summary>A message as raw bytes: the lines joined and terminated with CRLF.</summary>
    public static byte[] Crlf(params string[] lines)
    {
        var text = new StringBuilder();
        foreach (var line in lines)
        {
            text.Append(line).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    public static byte[] SimpleMessage(string to = "rcpt@example.net") => Crlf(
        "From: sender@origin.test",
        $"To: {to}",
        "Subject: test",
        "Message-ID: <simple@origin.test>",
        "Date: Mon, 02 Mar 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        string.Empty,
        "Hello.");

    public static RecipientResult ResultFor(DeliveryAttempt attempt, string address) =>
        Assert.Single(attempt.Results, r => string.Equals(r.Address, address, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Starts two sinks on distinct loopback addresses sharing one port: MX hosts share the configured SMTP port,
    /// so two MX hosts in one test must differ by address.
    /// </summary>
    public static async Task<(SmtpSink First, SmtpSink Second)> StartSinkPairAsync()
    {
        for (var attempt = 1; ; attempt++)
        {
            var first = SmtpSink.Start(NextAddress());
            try
            {
                return (first, SmtpSink.Start(NextAddress(), first.Port));
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse && attempt < 20)
            {
                await first.DisposeAsync();
            }
        }
    }
}
