using Elemta.Contracts;
using Elemta.Delivery.Dns;
using Elemta.Delivery.Smtp;
using Elemta.Delivery.Tls;
using Elemta.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests;

/// <summary>
/// MTA-STS (RFC 8461) end to end: the TXT record and MX hosts on the loopback DNS server, the policy on a real HTTPS
/// server whose name is resolved through that DNS server, real STARTTLS sinks as MX hosts.
/// </summary>
public sealed class MtaStsTests : IAsyncLifetime
{
    private const string Domain = "example.net";
    private const string EnforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.example.net\r\nmx: *.backup.example.net\r\nmax_age: 86400\r\n";
    private readonly TestCertificateAuthority _authority = new();
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.UtcNow);
    private readonly List<SmtpSink> _sinks = [];
    private readonly List<IAsyncDisposable> _disposables = [];
    private LoopbackDnsServer _dns = null!;
    private HttpsPolicyServer _https = null!;
    private string _rootPem = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        _rootPem = _authority.WriteRootPemFile();
        _https = new HttpsPolicyServer(NextAddress(), _authority.IssueServerCertificate($"mta-sts.{Domain}")) { Body = EnforcePolicy };
        _dns.AddA($"mta-sts.{Domain}", _https.EndPoint.Address);
        _dns.AddTxt($"_mta-sts.{Domain}", "v=STSv1; id=20260302T100000;");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var disposable in _disposables)
        {
            await disposable.DisposeAsync();
        }

        foreach (var sink in _sinks)
        {
            Assert.Empty(sink.Errors);
            await sink.DisposeAsync();
        }

        await _https.DisposeAsync();
        Assert.Empty(_dns.Errors);
        await _dns.DisposeAsync();
        File.Delete(_rootPem);
        _authority.Dispose();
    }

    /// <summary>A STARTTLS sink as an MX of <see cref="Domain"/> named <paramref name="mxHost"/>, with a test-CA certificate for that name unless told otherwise.</summary>
    private SmtpSink StartMx(string mxHost, ushort preference, int port = 0, bool selfSigned = false)
    {
        var sink = SmtpSink.Start(NextAddress(), port);
        sink.ServerCertificate = selfSigned ? TestCertificateAuthority.SelfSigned(mxHost) : _authority.IssueServerCertificate(mxHost);
        _sinks.Add(sink);
        _dns.AddMx(Domain, preference, mxHost);
        _dns.AddA(mxHost, sink.EndPoint.Address);
        return sink;
    }

    private (SmtpDeliveryAgent Agent, MtaStsResolver Sts) Agent(int smtpPort, bool trustTestRoot = true)
    {
        var options = DeliveryOptionsFor(smtpPort);
        options.MtaSts.HttpsPort = _https.EndPoint.Port;
        options.MtaSts.FetchTimeout = TimeSpan.FromSeconds(10);
        if (trustTestRoot)
        {
            options.TrustedCertificateAuthorities = _rootPem;
        }

        var lookup = new DnsLookup(Options.Create(DnsOptionsFor(_dns)), _clock);
        var resolver = new MxResolver(Options.Create(options), Options.Create(DnsOptionsFor(_dns)), lookup);
        var sts = new MtaStsResolver(lookup, Options.Create(options), _clock, NullLogger<MtaStsResolver>.Instance);
        var agent = new SmtpDeliveryAgent(resolver, Options.Create(options), _clock, NullLogger<SmtpDeliveryAgent>.Instance, sts);
        _disposables.Add(agent);
        _disposables.Add(new DisposeAction(() => { sts.Dispose(); lookup.Dispose(); }));
        return (agent, sts);
    }

    private static Task<DeliveryAttempt> Send(SmtpDeliveryAgent agent, string recipient = "a@example.net") =>
        agent.DeliverAsync(Work(Domain, "sender@origin.test", recipient), SimpleMessage(recipient), Token());

    [Fact]
    public async Task Enforce_skips_MX_hosts_the_policy_does_not_name_and_delivers_over_verified_TLS()
    {
        // The preferred MX is not in the policy (say, injected by an attacker): it must not get the message.
        var rogue = StartMx("rogue.example.org", 5);
        var listed = StartMx("mx.example.net", 10, rogue.Port);
        var (agent, _) = Agent(rogue.Port);

        var attempt = await Send(agent);

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" verified", attempt.Tls, StringComparison.Ordinal);
        Assert.Empty(rogue.Messages);
        Assert.Equal(0, rogue.ConnectionCount);
        Assert.Single(listed.Messages);
        var request = Assert.Single(_https.Requests);
        Assert.Equal(($"mta-sts.{Domain}", "/.well-known/mta-sts.txt"), request);
    }

    [Fact]
    public async Task Enforce_matches_a_wildcard_pattern_for_exactly_one_label()
    {
        var sink = StartMx("mx1.backup.example.net", 10);
        var (agent, _) = Agent(sink.Port);

        var attempt = await Send(agent);

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.True(new MtaStsPolicy(MtaStsMode.Enforce, ["*.backup.example.net"], TimeSpan.Zero).Matches("MX1.Backup.Example.NET."));
        Assert.False(new MtaStsPolicy(MtaStsMode.Enforce, ["*.backup.example.net"], TimeSpan.Zero).Matches("a.mx1.backup.example.net"));
        Assert.False(new MtaStsPolicy(MtaStsMode.Enforce, ["*.backup.example.net"], TimeSpan.Zero).Matches("backup.example.net"));
    }

    [Fact]
    public async Task Enforce_with_no_matching_MX_is_a_transient_TLS_failure()
    {
        var sink = StartMx("elsewhere.example.org", 10);
        var (agent, _) = Agent(sink.Port);

        var attempt = await Send(agent);

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Tls, result.Error);
        Assert.StartsWith("451 4.7.5 MTA-STS", result.Reply, StringComparison.Ordinal);
        Assert.Equal(0, sink.ConnectionCount);
    }

    [Fact]
    public async Task Enforce_refuses_an_MX_whose_certificate_does_not_verify_although_opportunistic_TLS_would_send()
    {
        var sink = StartMx("mx.example.net", 10, selfSigned: true);
        var (agent, _) = Agent(sink.Port);

        var enforced = await Send(agent);
        Assert.Equal(DeliveryError.Tls, Assert.Single(enforced.Results).Error);
        Assert.Equal(RecipientOutcome.Transient, Assert.Single(enforced.Results).Outcome);
        Assert.Empty(sink.Messages);

        // The same MX without a policy (the record withdrawn and nothing cached yet in a fresh agent) takes it.
        _dns.Remove($"_mta-sts.{Domain}");
        var (fresh, _) = Agent(sink.Port);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single((await Send(fresh)).Results).Outcome);
    }

    [Fact]
    public async Task Testing_mode_delivers_as_without_a_policy()
    {
        _https.Body = EnforcePolicy.Replace("mode: enforce", "mode: testing", StringComparison.Ordinal);
        var sink = StartMx("unlisted.example.org", 10, selfSigned: true);
        var (agent, _) = Agent(sink.Port);

        var attempt = await Send(agent);

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Single(_https.Requests);
    }

    [Fact]
    public async Task A_policy_server_whose_certificate_does_not_verify_gives_no_policy()
    {
        // Without the test root the HTTPS certificate is untrusted: the policy cannot be had, so none applies.
        var sink = StartMx("unlisted.example.org", 10);
        var (agent, sts) = Agent(sink.Port, trustTestRoot: false);

        var attempt = await Send(agent);

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal(1, sts.Fetches);
        Assert.Empty(_https.Requests);
    }

    [Fact]
    public async Task The_policy_is_cached_until_the_TXT_id_changes()
    {
        var sink = StartMx("mx.example.net", 10);
        var (agent, sts) = Agent(sink.Port);

        await Send(agent, "a@example.net");
        await Send(agent, "b@example.net");
        Assert.Equal(1, sts.Fetches);

        _dns.Remove($"_mta-sts.{Domain}");
        _dns.AddTxt($"_mta-sts.{Domain}", "v=STSv1; id=20260303T000000;");
        await Send(agent, "c@example.net");

        Assert.Equal(2, sts.Fetches);
        Assert.Equal(3, sink.Messages.Count);
    }

    [Fact]
    public async Task A_cached_enforce_policy_outlives_a_stripped_TXT_record_until_max_age()
    {
        var sink = StartMx("unlisted.example.org", 10);
        var (_, sts) = Agent(sink.Port);
        Assert.Equal(MtaStsMode.Enforce, (await sts.GetPolicyAsync(Domain, Token()))?.Mode);

        _dns.Remove($"_mta-sts.{Domain}");
        _clock.Advance(TimeSpan.FromSeconds(86399));
        Assert.Equal(MtaStsMode.Enforce, (await sts.GetPolicyAsync(Domain, Token()))?.Mode);

        _clock.Advance(TimeSpan.FromSeconds(1));
        Assert.Null(await sts.GetPolicyAsync(Domain, Token()));
        Assert.Equal(1, sts.Fetches);
    }

    [Theory]
    [InlineData(404, "text/plain")]
    [InlineData(200, "text/html")]
    public async Task A_policy_not_served_as_200_text_plain_is_ignored(int status, string contentType)
    {
        _https.StatusCode = status;
        _https.ContentType = contentType;
        var sink = StartMx("unlisted.example.org", 10);
        var (agent, sts) = Agent(sink.Port);

        Assert.Null(await sts.GetPolicyAsync(Domain, Token()));
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single((await Send(agent)).Results).Outcome);
    }

    [Theory]
    [InlineData("version: STSv1\nmode: enforce\nmx: mx.example.net\nmax_age: 600\n", true)]
    [InlineData("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n", true)]
    [InlineData("version: STSv1\nmode: enforce\nmax_age: 600\n", false)] // no mx
    [InlineData("version: STSv2\nmode: enforce\nmx: a.test\nmax_age: 600\n", false)]
    [InlineData("version: STSv1\nmode: always\nmx: a.test\nmax_age: 600\n", false)]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.test\nmax_age: 31557601\n", false)]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.*.test\nmax_age: 600\n", false)]
    [InlineData("version: STSv1\nmode: enforce\nmx: a.test\n", false)]
    public void Policies_are_parsed_strictly(string text, bool valid)
    {
        Assert.Equal(valid, MtaStsPolicy.TryParse(text, out var policy, out var error));
        Assert.Equal(valid, policy is not null);
        Assert.Equal(valid, error is null);
    }

    [Theory]
    [InlineData("v=STSv1; id=20160831085700Z;", "20160831085700Z")]
    [InlineData("v=STSv1;id=abc", "abc")]
    [InlineData("v=STSv1; id=has-dash;", null)]
    [InlineData("v=STSv2; id=abc;", null)]
    [InlineData("id=abc; v=STSv1;", null)]
    public void TXT_record_ids_are_parsed(string record, string? id) => Assert.Equal(id, MtaStsPolicy.ParseRecordId(record));

    private sealed class DisposeAction(Action action) : IAsyncDisposable
    {
        public ValueTask DisposeAsync()
        {
            action();
            return ValueTask.CompletedTask;
        }
    }
}
