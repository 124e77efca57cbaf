using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Elemta.Contracts;
using Elemta.Delivery.Smtp;
using Elemta.Delivery.Tls;
using Elemta.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests;

/// <summary>Per-domain outbound TLS policy against real STARTTLS sinks, and what every attempt records.</summary>
public sealed class TlsPolicyTests : IAsyncLifetime
{
    private const string Domain = "example.net";
    private const string MxHost = "mx.example.net";
    private readonly TestCertificateAuthority _authority = new();
    private readonly List<SmtpSink> _sinks = [];
    private readonly List<SmtpDeliveryAgent> _agents = [];
    private LoopbackDnsServer _dns = null!;
    private string _rootPem = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        _rootPem = _authority.WriteRootPemFile();
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

        await _dns.DisposeAsync();
        File.Delete(_rootPem);
        _authority.Dispose();
    }

    /// <summary>A sink on a fresh address, the MX of <paramref name="domain"/> under the name <see cref="MxHost"/>-like <paramref name="mxHost"/>.</summary>
    private SmtpSink StartMx(string domain = Domain, string mxHost = MxHost, Action<SmtpSink>? configure = null)
    {
        var sink = SmtpSink.Start(NextAddress());
        configure?.Invoke(sink);
        _sinks.Add(sink);
        _dns.AddMx(domain, 10, mxHost);
        _dns.AddA(mxHost, sink.EndPoint.Address);
        return sink;
    }

    private SmtpDeliveryAgent Agent(int port, Action<DeliveryOptions>? configure = null, bool trustTestRoot = true)
    {
        var options = DeliveryOptionsFor(port);
        if (trustTestRoot)
        {
            options.TrustedCertificateAuthorities = _rootPem;
        }

        configure?.Invoke(options);
        var agent = DeliveryTestKit.Agent(_dns, options);
        _agents.Add(agent);
        return agent;
    }

    private static Task<DeliveryAttempt> Send(SmtpDeliveryAgent agent, string domain = Domain, string recipient = "a@example.net") =>
        agent.DeliverAsync(Work(domain, "sender@origin.test", recipient), SimpleMessage(recipient), Token());

    [Fact]
    public async Task Opportunistic_by_default_uses_STARTTLS_and_records_protocol_cipher_and_verification()
    {
        var sink = StartMx(configure: s => s.ServerCertificate = _authority.IssueServerCertificate(MxHost));

        var attempt = await Send(Agent(sink.Port));

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Delivered, result.Outcome);
        Assert.Equal(DeliveryError.None, result.Error);
        Assert.Matches(@"^TLSv1\.[23] TLS_\w+ verified$", attempt.Tls);
        Assert.Equal(sink.EndPoint.ToString(), attempt.RemoteAddress);
        Assert.True(attempt.Duration > TimeSpan.Zero);
        Assert.NotNull(Assert.Single(sink.Messages).TlsProtocol);
    }

    [Fact]
    public async Task Opportunistic_accepts_a_certificate_that_does_not_verify_and_says_so()
    {
        var sink = StartMx(configure: s => s.ServerCertificate = TestCertificateAuthority.SelfSigned(MxHost));

        var attempt = await Send(Agent(sink.Port));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" unverified", attempt.Tls, StringComparison.Ordinal);
        Assert.NotNull(Assert.Single(sink.Messages).TlsProtocol);
    }

    [Fact]
    public async Task Opportunistic_to_a_server_without_STARTTLS_sends_in_plaintext_and_records_none()
    {
        var sink = StartMx();

        var attempt = await Send(Agent(sink.Port));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal("none", attempt.Tls);
        Assert.Null(Assert.Single(sink.Messages).TlsProtocol);
    }

    [Fact]
    public async Task None_never_starts_TLS_even_when_offered()
    {
        var sink = StartMx(configure: s => s.ServerCertificate = _authority.IssueServerCertificate(MxHost));

        var attempt = await Send(Agent(sink.Port, o => o.TlsPolicies[Domain] = TlsPolicy.None));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal("none", attempt.Tls);
        Assert.Null(Assert.Single(sink.Messages).TlsProtocol);
    }

    [Fact]
    public async Task Required_without_STARTTLS_is_a_transient_TLS_failure_and_nothing_is_sent()
    {
        var sink = StartMx();

        var attempt = await Send(Agent(sink.Port, o => o.TlsPolicies[Domain] = TlsPolicy.Required));

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Tls, result.Error);
        Assert.StartsWith("451 4.7.4", result.Reply, StringComparison.Ordinal);
        Assert.Contains("does not offer STARTTLS", result.Reply, StringComparison.Ordinal);
        Assert.Equal(sink.EndPoint.ToString(), attempt.RemoteAddress);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Required_accepts_any_certificate()
    {
        var sink = StartMx(configure: s => s.ServerCertificate = TestCertificateAuthority.SelfSigned(MxHost));

        var attempt = await Send(Agent(sink.Port, o => o.TlsPolicies[Domain] = TlsPolicy.Required));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" unverified", attempt.Tls, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Verify_refuses_a_self_signed_certificate_transiently()
    {
        var sink = StartMx(configure: s => s.ServerCertificate = TestCertificateAuthority.SelfSigned(MxHost));

        var attempt = await Send(Agent(sink.Port, o => o.TlsPolicies[Domain] = TlsPolicy.Verify));

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Tls, result.Error);
        Assert.StartsWith("451 4.7.5", result.Reply, StringComparison.Ordinal);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Verify_refuses_a_trusted_certificate_for_another_name()
    {
        var sink = StartMx(configure: s => s.ServerCertificate = _authority.IssueServerCertificate("other.example.org"));

        var attempt = await Send(Agent(sink.Port, o => o.TlsPolicies[Domain] = TlsPolicy.Verify));

        Assert.Equal(DeliveryError.Tls, Assert.Single(attempt.Results).Error);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Verify_without_the_test_root_configured_refuses_the_test_certificate()
    {
        var sink = StartMx(configure: s => s.ServerCertificate = _authority.IssueServerCertificate(MxHost));

        var attempt = await Send(Agent(sink.Port, o => o.TlsPolicies[Domain] = TlsPolicy.Verify, trustTestRoot: false));

        Assert.Equal(DeliveryError.Tls, Assert.Single(attempt.Results).Error);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task Verify_delivers_when_the_certificate_chains_to_a_configured_root_for_the_MX_name()
    {
        var sink = StartMx(configure: s => s.ServerCertificate = _authority.IssueServerCertificate(MxHost));

        var attempt = await Send(Agent(sink.Port, o => o.TlsPolicies[Domain] = TlsPolicy.Verify));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" verified", attempt.Tls, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DefaultTlsPolicy_applies_to_domains_without_their_own_entry()
    {
        var sink = StartMx(configure: s => s.ServerCertificate = TestCertificateAuthority.SelfSigned(MxHost));
        _dns.AddMx("relaxed.test", 10, MxHost);
        var agent = Agent(sink.Port, o =>
        {
            o.DefaultTlsPolicy = TlsPolicy.Verify;
            o.TlsPolicies["relaxed.test"] = TlsPolicy.Opportunistic;
        });

        var strict = await Send(agent);
        var relaxed = await Send(agent, "relaxed.test", "b@relaxed.test");

        Assert.Equal(DeliveryError.Tls, Assert.Single(strict.Results).Error);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(relaxed.Results).Outcome);
        Assert.Equal(["b@relaxed.test"], Assert.Single(sink.Messages).Recipients);
    }

    [Fact]
    public async Task A_pooled_session_is_not_reused_under_another_TLS_policy()
    {
        // Two domains share one MX; the session opened for the opportunistic one must not carry the Verify one.
        var sink = StartMx(configure: s => s.ServerCertificate = _authority.IssueServerCertificate(MxHost));
        _dns.AddMx("strict.test", 10, MxHost);
        var agent = Agent(sink.Port, o => o.TlsPolicies["strict.test"] = TlsPolicy.Verify);

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single((await Send(agent)).Results).Outcome);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single((await Send(agent, "strict.test", "b@strict.test")).Results).Outcome);
        Assert.Equal(2, sink.ConnectionCount);

        // Each policy now has its own idle session, and each is reused by its own kind.
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single((await Send(agent)).Results).Outcome);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single((await Send(agent, "strict.test", "c@strict.test")).Results).Outcome);
        Assert.Equal(2, sink.ConnectionCount);
        Assert.Equal(4, sink.Messages.Count);
    }

    [Fact]
    public async Task MinimumTlsVersion_Tls13_refuses_a_server_that_only_speaks_TLS_1_2()
    {
        var sink = StartMx(configure: s =>
        {
            s.ServerCertificate = _authority.IssueServerCertificate(MxHost);
            s.TlsProtocols = SslProtocols.Tls12;
        });
        var strict = Agent(sink.Port, o =>
        {
            o.MinimumTlsVersion = MinimumTlsVersion.Tls13;
            o.TlsPolicies[Domain] = TlsPolicy.Required;
        });

        var refused = await Send(strict);
        var accepted = await Send(Agent(sink.Port, o => o.TlsPolicies[Domain] = TlsPolicy.Required));

        Assert.Equal(DeliveryError.Tls, Assert.Single(refused.Results).Error);
        Assert.Equal(RecipientOutcome.Transient, Assert.Single(refused.Results).Outcome);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(accepted.Results).Outcome);
        Assert.StartsWith("TLSv1.2 ", accepted.Tls, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_REQUIRETLS_message_goes_over_verified_TLS_to_a_host_offering_REQUIRETLS()
    {
        var sink = StartMx(configure: s =>
        {
            s.ServerCertificate = _authority.IssueServerCertificate(MxHost);
            s.AdvertiseRequireTls = true;
        });

        var attempt = await Agent(sink.Port).DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net") with { RequireTls = true }, SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" verified", attempt.Tls, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Every_failure_carries_its_error_class()
    {
        var sink = StartMx(configure: s => s.OnRecipient = r => r.StartsWith("full", StringComparison.Ordinal)
            ? new SmtpSinkReply(452, "4.2.2 mailbox full")
            : r.StartsWith("gone", StringComparison.Ordinal) ? new SmtpSinkReply(550, "5.1.1 no such user") : null);
        _dns.SetNxDomain("nowhere.test");
        var agent = Agent(sink.Port);

        var attempt = await agent.DeliverAsync(Work(Domain, "sender@origin.test", "ok@example.net", "full@example.net", "gone@example.net"), SimpleMessage(), Token());
        var dns = await Send(agent, "nowhere.test", "a@nowhere.test");

        Assert.Equal(DeliveryError.None, ResultFor(attempt, "ok@example.net").Error);
        Assert.Equal(DeliveryError.TemporaryReply, ResultFor(attempt, "full@example.net").Error);
        Assert.Equal(DeliveryError.PermanentReply, ResultFor(attempt, "gone@example.net").Error);
        Assert.Equal(DeliveryError.Dns, Assert.Single(dns.Results).Error);
        Assert.Null(dns.RemoteAddress);
    }

    [Fact]
    public async Task A_refused_connection_is_a_Connect_error_without_a_remote_address()
    {
        var address = NextAddress();
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(address, 0));
        var port = ((IPEndPoint)probe.LocalEndPoint!).Port;
        _dns.AddMx(Domain, 10, MxHost);
        _dns.AddA(MxHost, address);

        var attempt = await Send(Agent(port));

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Connect, result.Error);
        Assert.Null(attempt.RemoteAddress);
        Assert.Null(attempt.Tls);
    }

    [Fact]
    public async Task A_server_that_never_greets_is_a_Timeout_error()
    {
        using var silent = new TcpListener(NextAddress(), 0);
        silent.Start();
        _dns.AddMx(Domain, 10, MxHost);
        _dns.AddA(MxHost, ((IPEndPoint)silent.LocalEndpoint).Address);

        var attempt = await Send(Agent(((IPEndPoint)silent.LocalEndpoint).Port, o => o.CommandTimeout = TimeSpan.FromMilliseconds(500)));

        Assert.Equal(DeliveryError.Timeout, Assert.Single(attempt.Results).Error);
    }

    [Theory]
    [InlineData("Elemta:Delivery:TlsPolicies:example.net", "Verify", null)]
    [InlineData("Elemta:Delivery:DefaultTlsPolicy", "Required", null)]
    [InlineData("Elemta:Delivery:MinimumTlsVersion", "Tls13", null)]
    [InlineData("Elemta:Delivery:TrustedCertificateAuthorities", "/nonexistent/roots.pem", "TrustedCertificateAuthorities")]
    [InlineData("Elemta:Delivery:TlsPolicies:example.net", "Sometimes", "TlsPolicies")]
    public void TLS_options_are_bound_and_validated_at_start(string key, string value, string? errorMentions)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection([new(key, value)]).Build();
        using var provider = new ServiceCollection().AddLogging().AddElemtaDelivery(configuration).BuildServiceProvider();

        if (errorMentions is null)
        {
            var options = provider.GetRequiredService<IOptions<DeliveryOptions>>().Value;
            Assert.True(options.TlsPolicies.Count > 0 || options.DefaultTlsPolicy != TlsPolicy.Opportunistic || options.MinimumTlsVersion == MinimumTlsVersion.Tls13);
        }
        else
        {
            var ex = Assert.ThrowsAny<Exception>(() => provider.GetRequiredService<IOptions<DeliveryOptions>>().Value);
            Assert.Contains(errorMentions, ex.Message, StringComparison.Ordinal);
        }
    }
}
