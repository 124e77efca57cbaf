using Elemta.Contracts;
using Elemta.Delivery.Smtp;
using Elemta.Delivery.Tls;
using Elemta.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests;

/// <summary>Smarthost relays with SMTP AUTH against a real sink that requires AUTH.</summary>
public sealed class RelayTests : IAsyncLifetime
{
    private const string User = "elemta@relay.test";
    private const string Password = "correct horse battery";
    private readonly TestCertificateAuthority _authority = new();
    private readonly List<SmtpDeliveryAgent> _agents = [];
    private readonly List<string> _files = [];
    private LoopbackDnsServer _dns = null!;
    private SmtpSink _relay = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        _relay = SmtpSink.Start(NextAddress());
        _relay.HostName = "smarthost.relay.test";
        _relay.ServerCertificate = _authority.IssueServerCertificate("smarthost.relay.test");
        _relay.AuthUserName = User;
        _relay.AuthPassword = Password;
        _dns.AddA("smarthost.relay.test", _relay.EndPoint.Address);
        _files.Add(_authority.WriteRootPemFile());
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        Assert.Empty(_relay.Errors);
        await _relay.DisposeAsync();
        await _dns.DisposeAsync();
        foreach (var file in _files)
        {
            File.Delete(file);
        }

        _authority.Dispose();
    }

    private RelayOptions Relay(string? password = Password, TlsPolicy tls = TlsPolicy.Verify) => new()
    {
        Host = "smarthost.relay.test",
        Port = _relay.Port,
        Username = User,
        Password = password,
        TlsPolicy = tls,
    };

    private SmtpDeliveryAgent Agent(Action<DeliveryOptions> configure, int smtpPort = 25)
    {
        var options = DeliveryOptionsFor(smtpPort);
        options.TrustedCertificateAuthorities = _files[0];
        configure(options);
        var agent = DeliveryTestKit.Agent(_dns, options);
        _agents.Add(agent);
        return agent;
    }

    private static Task<DeliveryAttempt> Send(SmtpDeliveryAgent agent, string domain = "example.net") =>
        agent.DeliverAsync(Work(domain, "sender@origin.test", $"a@{domain}"), SimpleMessage($"a@{domain}"), Token());

    [Fact]
    public async Task DefaultRelay_takes_all_mail_authenticating_inside_verified_TLS()
    {
        // No DNS records for the recipient domain at all: the relay does not need them.
        var agent = Agent(o =>
        {
            o.Relays["smarthost"] = Relay();
            o.DefaultRelay = "smarthost";
        });

        var attempt = await Send(agent, "nowhere.example");

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" verified", attempt.Tls, StringComparison.Ordinal);
        var message = Assert.Single(_relay.Messages);
        Assert.Equal(User, message.AuthenticatedAs);
        Assert.NotNull(message.TlsProtocol);
        Assert.Equal(0, _relay.PlaintextAuthAttempts);
        Assert.DoesNotContain(_dns.Queries, q => q.Name == "nowhere.example");
    }

    [Fact]
    public async Task Rejected_credentials_defer_every_recipient_as_an_operator_error()
    {
        var agent = Agent(o =>
        {
            o.Relays["smarthost"] = Relay(password: "wrong");
            o.DefaultRelay = "smarthost";
        });

        var attempt = await agent.DeliverAsync(Work("example.net", "sender@origin.test", "a@example.net", "b@example.net"), SimpleMessage(), Token());

        Assert.Equal(2, attempt.Results.Length);
        Assert.All(attempt.Results, r =>
        {
            Assert.Equal(RecipientOutcome.Transient, r.Outcome);
            Assert.Equal(DeliveryError.Local, r.Error);
            Assert.StartsWith("451 4.7.8 relay smarthost rejected the credentials", r.Reply, StringComparison.Ordinal);
            Assert.Contains("535", r.Reply, StringComparison.Ordinal);
        });
        Assert.Empty(_relay.Messages);
        // MailKit tries each mechanism both sides support (PLAIN, then LOGIN) before giving up.
        Assert.InRange(_relay.AuthAttempts, 1, 2);
    }

    [Fact]
    public async Task Credentials_are_never_sent_when_the_relay_does_not_start_TLS()
    {
        _relay.ServerCertificate = null;
        var agent = Agent(o =>
        {
            o.Relays["smarthost"] = Relay(tls: TlsPolicy.Opportunistic);
            o.DefaultRelay = "smarthost";
        });

        var attempt = await Send(agent);

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Tls, result.Error);
        Assert.Equal(0, _relay.AuthAttempts);
        Assert.Empty(_relay.Messages);
    }

    [Fact]
    public async Task Plaintext_AUTH_only_with_TlsPolicy_None_and_AllowPlaintextAuth()
    {
        var relay = Relay(tls: TlsPolicy.None);
        relay.AllowPlaintextAuth = true;
        var agent = Agent(o =>
        {
            o.Relays["smarthost"] = relay;
            o.DefaultRelay = "smarthost";
        });

        var attempt = await Send(agent);

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Equal("none", attempt.Tls);
        Assert.Equal(1, _relay.PlaintextAuthAttempts);
        Assert.Equal(User, Assert.Single(_relay.Messages).AuthenticatedAs);
    }

    [Fact]
    public async Task A_route_names_a_relay_and_other_domains_still_go_to_their_MX()
    {
        await using var mx = SmtpSink.Start(NextAddress());
        _dns.AddMx("direct.example", 10, "mx.direct.example");
        _dns.AddA("mx.direct.example", mx.EndPoint.Address);
        var passwordFile = Path.Combine(Path.GetTempPath(), $"elemta-relay-{Guid.NewGuid():N}");
        _files.Add(passwordFile);
        await File.WriteAllTextAsync(passwordFile, Password + "\n");
        var relay = Relay(password: null);
        relay.PasswordFile = passwordFile;
        var agent = Agent(o =>
        {
            o.Relays["smarthost"] = relay;
            o.Routes["relayed.example"] = "smarthost";
        }, mx.Port);

        var relayed = await Send(agent, "relayed.example");
        var direct = await Send(agent, "direct.example");

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(relayed.Results).Outcome);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(direct.Results).Outcome);
        Assert.Equal(["a@relayed.example"], Assert.Single(_relay.Messages).Recipients);
        var direct1 = Assert.Single(mx.Messages);
        Assert.Equal(["a@direct.example"], direct1.Recipients);
        Assert.Null(direct1.AuthenticatedAs);
    }

    [Fact]
    public async Task An_authenticated_session_is_reused_for_the_relay_only()
    {
        var agent = Agent(o =>
        {
            o.Relays["smarthost"] = Relay();
            o.DefaultRelay = "smarthost";
        });

        await Send(agent, "one.example");
        await Send(agent, "two.example");

        Assert.Equal(2, _relay.Messages.Count);
        Assert.Equal(1, _relay.ConnectionCount);
        Assert.Equal(1, _relay.AuthAttempts);
    }

    [Theory]
    [InlineData("Elemta:Delivery:DefaultRelay", "missing", "Elemta:Delivery:DefaultRelay 'missing' names no relay")]
    [InlineData("Elemta:Delivery:Relays:r:Port", "0", "Elemta:Delivery:Relays:r:Port")]
    [InlineData("Elemta:Delivery:Relays:r:Password", "pw", "Username and a Password")]
    [InlineData("Elemta:Delivery:Relays:r:PasswordFile", "/nonexistent/pw", "Elemta:Delivery:Relays:r:PasswordFile")]
    [InlineData("Elemta:Delivery:Relays:r:TlsPolicy", "None", "would send the credentials in clear")]
    [InlineData("Elemta:Delivery:Relays:r:AllowPlaintextAuth", "true", "AllowPlaintextAuth applies only with TlsPolicy None")]
    [InlineData("Elemta:Delivery:Routes:example.org", "host:99999", "Elemta:Delivery:Routes:example.org")]
    public void Relay_options_are_validated_at_start_with_a_message_naming_the_key(string key, string value, string errorMentions)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Elemta:Delivery:Relays:r:Host"] = "smarthost.example",
            ["Elemta:Delivery:Relays:r:Username"] = "u",
            ["Elemta:Delivery:Relays:r:Password"] = "p",
            [key] = value,
        }).Build();
        if (key.EndsWith(":PasswordFile", StringComparison.Ordinal) || key.EndsWith(":Password", StringComparison.Ordinal))
        {
            configuration["Elemta:Delivery:Relays:r:" + (key.EndsWith(":PasswordFile", StringComparison.Ordinal) ? "Password" : "Username")] = null;
        }

        using var provider = new ServiceCollection().AddLogging().AddElemtaDelivery(configuration).BuildServiceProvider();

        var ex = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<DeliveryOptions>>().Value);
        Assert.Contains(errorMentions, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_valid_relay_configuration_binds()
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Elemta:Delivery:Relays:smarthost:Host"] = "smtp.provider.example",
            ["Elemta:Delivery:Relays:smarthost:Port"] = "587",
            ["Elemta:Delivery:Relays:smarthost:Username"] = "u",
            ["Elemta:Delivery:Relays:smarthost:Password"] = "p",
            ["Elemta:Delivery:Relays:smarthost:TlsPolicy"] = "Required",
            ["Elemta:Delivery:DefaultRelay"] = "smarthost",
        }).Build();
        using var provider = new ServiceCollection().AddLogging().AddElemtaDelivery(configuration).BuildServiceProvider();

        var options = provider.GetRequiredService<IOptions<DeliveryOptions>>().Value;

        Assert.Equal(587, options.Relays["smarthost"].Port);
        Assert.Equal(TlsPolicy.Required, options.Relays["smarthost"].TlsPolicy);
        Assert.Equal(new RouteTarget("smtp.provider.example", 587, "smarthost"), new DeliveryRouting(options).RouteFor("any.example"));
    }
}
