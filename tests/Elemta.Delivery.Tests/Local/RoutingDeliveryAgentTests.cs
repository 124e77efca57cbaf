using Elemta.Contracts;
using Elemta.Delivery.Local;
using Elemta.Delivery.Smtp;
using Elemta.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests.Local;

/// <summary>The router as the container builds it from configuration, with a real peer behind each transport.</summary>
[Collection(DovecotCollection.Name)]
public sealed class RoutingDeliveryAgentTests(DovecotFixture dovecot) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("elemta-routing-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private static ServiceProvider Build(Dictionary<string, string?> settings) =>
        new ServiceCollection().AddLogging().AddElemtaDelivery(new ConfigurationBuilder().AddInMemoryCollection(settings).Build()).BuildServiceProvider();

    [Fact]
    public async Task Each_domain_goes_to_its_own_transport_and_the_rest_to_SMTP()
    {
        await using var dns = LoopbackDnsServer.Start();
        await using var sink = SmtpSink.Start(NextAddress());
        var mailRoot = Path.Combine(_directory, "mail");
        await using var provider = Build(new()
        {
            // Keys as an operator might write them: the domain's case does not matter.
            ["Elemta:Delivery:LocalDomains:Maildir.Test:Transport"] = "maildir",
            ["Elemta:Delivery:LocalDomains:Maildir.Test:MaildirPath"] = mailRoot + "/{domain}/{user}/Maildir",
            ["Elemta:Delivery:LocalDomains:Maildir.Test:CreateMailboxes"] = "true",
            ["Elemta:Delivery:LocalDomains:dovecot.test:Transport"] = "Lmtp",
            ["Elemta:Delivery:LocalDomains:dovecot.test:LmtpEndpoint"] = $"127.0.0.1:{dovecot.Server.EndPoint.Port}",
            ["Elemta:Delivery:Routes:example.net"] = $"{sink.EndPoint.Address}:{sink.Port}",
            ["Elemta:Delivery:HeloName"] = "relay.test",
            ["Elemta:Dns:Servers:0"] = dns.EndPoint.ToString(),
        });
        var agent = provider.GetRequiredService<IDeliveryAgent>();
        Assert.IsType<RoutingDeliveryAgent>(agent);
        Assert.NotNull(provider.GetRequiredService<SmtpDeliveryAgent>());

        var toMaildir = await agent.DeliverAsync(Work("maildir.test", "s@origin.test", "alice@maildir.test"), SimpleMessage(), Token());
        Assert.Equal(MaildirDeliveryAgent.RemoteHostName, toMaildir.RemoteHost);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(toMaildir.Results).Outcome);
        Assert.Single(Directory.GetFiles(Path.Combine(mailRoot, "maildir.test", "alice", "Maildir", "new")));

        var marker = $"routed-{Guid.NewGuid():N}";
        var toLmtp = await agent.DeliverAsync(Work("dovecot.test", "s@origin.test", "bob@dovecot.test"), Crlf($"Subject: {marker}", string.Empty, "Hi."), Token());
        Assert.Equal($"127.0.0.1:{dovecot.Server.EndPoint.Port}", toLmtp.RemoteHost);
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(toLmtp.Results).Outcome);
        Assert.Contains(dovecot.Server.Delivered("bob@dovecot.test"), f => File.ReadAllText(f).Contains(marker, StringComparison.Ordinal));

        var toSmtp = await agent.DeliverAsync(Work("example.net", "s@origin.test", "carol@example.net"), SimpleMessage("carol@example.net"), Token());
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(toSmtp.Results).Outcome);
        var relayed = Assert.Single(sink.Messages);
        Assert.Equal(["carol@example.net"], relayed.Recipients);
    }

    [Fact]
    public void Without_local_domains_everything_goes_to_SMTP()
    {
        using var provider = Build([]);
        var router = Assert.IsType<RoutingDeliveryAgent>(provider.GetRequiredService<IDeliveryAgent>());

        Assert.Same(provider.GetRequiredService<SmtpDeliveryAgent>(), router.AgentFor("example.net"));
    }

    [Theory]
    [InlineData("Transport", "Mbox", "Elemta:Delivery:LocalDomains:local.test:Transport must be 'Maildir' or 'Lmtp'")]
    [InlineData("MaildirPath", "mail/{user}", "Elemta:Delivery:LocalDomains:local.test:MaildirPath must be an absolute path")]
    [InlineData("MaildirPath", "/var/mail/{domain}", "Elemta:Delivery:LocalDomains:local.test:MaildirPath must contain {user}")]
    [InlineData("MaildirPath", "/var/mail/../{user}", "Elemta:Delivery:LocalDomains:local.test:MaildirPath must not contain '.' or '..'")]
    [InlineData("MaildirPath", "/var/mail/{host}/{user}", "Elemta:Delivery:LocalDomains:local.test:MaildirPath may contain only the placeholders")]
    public void Invalid_maildir_settings_stop_the_start_with_the_key_named(string key, string value, string message)
    {
        using var provider = Build(new()
        {
            ["Elemta:Delivery:LocalDomains:local.test:Transport"] = "Maildir",
            [$"Elemta:Delivery:LocalDomains:local.test:{key}"] = value,
        });

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<LocalDeliveryOptions>>().Value);
        Assert.Contains(error.Failures, f => f.StartsWith(message, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("LmtpEndpoint", "", "Elemta:Delivery:LocalDomains:local.test:LmtpEndpoint is empty")]
    [InlineData("LmtpEndpoint", "127.0.0.1:99999", "Elemta:Delivery:LocalDomains:local.test:LmtpEndpoint has an invalid port")]
    [InlineData("LmtpEndpoint", "unix:relative/lmtp", "Elemta:Delivery:LocalDomains:local.test:LmtpEndpoint must name an absolute socket path")]
    [InlineData("LmtpCommandTimeout", "00:00:00", "Elemta:Delivery:LocalDomains:local.test:LmtpCommandTimeout must be positive")]
    public void Invalid_lmtp_settings_stop_the_start_with_the_key_named(string key, string value, string message)
    {
        using var provider = Build(new()
        {
            ["Elemta:Delivery:LocalDomains:local.test:Transport"] = "Lmtp",
            ["Elemta:Delivery:LocalDomains:local.test:LmtpEndpoint"] = "127.0.0.1:24",
            [$"Elemta:Delivery:LocalDomains:local.test:{key}"] = value,
        });

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<LocalDeliveryOptions>>().Value);
        Assert.Contains(error.Failures, f => f.StartsWith(message, StringComparison.Ordinal));
    }

    [Fact]
    public void Every_bad_value_gets_its_own_message()
    {
        using var provider = Build(new()
        {
            ["Elemta:Delivery:LocalDomains:a.test:Transport"] = "Pigeon",
            ["Elemta:Delivery:LocalDomains:b.test:Transport"] = "Lmtp",
            ["Elemta:Delivery:LocalDomains:b_c:Transport"] = "Maildir",
        });

        var error = Assert.Throws<OptionsValidationException>(() => provider.GetRequiredService<IOptions<LocalDeliveryOptions>>().Value);
        Assert.Equal(3, error.Failures.Count());
        Assert.Contains(error.Failures, f => f.StartsWith("Elemta:Delivery:LocalDomains:a.test:Transport", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Elemta:Delivery:LocalDomains:b.test:LmtpEndpoint", StringComparison.Ordinal));
        Assert.Contains(error.Failures, f => f.StartsWith("Elemta:Delivery:LocalDomains:b_c: 'b_c' is not a domain name", StringComparison.Ordinal));
    }
}
