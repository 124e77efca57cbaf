using Elemta.Delivery.Local;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Tests.Local;

/// <summary>Builds the local agents from options, and the shared Dovecot for the tests that need one.</summary>
internal static class LocalTestKit
{
    public static LocalDeliveryOptions OneDomain(string domain, LocalDomainOptions local) =>
        new() { LocalDomains = new(StringComparer.OrdinalIgnoreCase) { [domain] = local } };

    public static MaildirDeliveryAgent MaildirAgent(LocalDeliveryOptions options) =>
        new(Options.Create(options), TimeProvider.System, NullLogger<MaildirDeliveryAgent>.Instance);

    public static LmtpDeliveryAgent LmtpAgent(LocalDeliveryOptions options) =>
        new(Options.Create(options), Options.Create(new DeliveryOptions { HeloName = "relay.test" }), TimeProvider.System, NullLogger<LmtpDeliveryAgent>.Instance);

    public static LocalDomainOptions Lmtp(string endpoint) => new()
    {
        Transport = "Lmtp",
        LmtpEndpoint = endpoint,
        LmtpConnectTimeout = TimeSpan.FromSeconds(3),
        LmtpCommandTimeout = TimeSpan.FromSeconds(15),
    };
}

/// <summary>One Dovecot for every test class in <see cref="DovecotCollection"/>, stopped after the last of them.</summary>
public sealed class DovecotFixture : IAsyncLifetime
{
    public DovecotLmtpServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await DovecotLmtpServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

[CollectionDefinition(Name)]
public sealed class DovecotCollection : ICollectionFixture<DovecotFixture>
{
    public const string Name = "Dovecot";
}
