using Elemta.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Elemta.Admin.Tests;

/// <summary>
/// The key ring grain's one rule beyond storing: a key made from a read the ring has outgrown is refused, so hosts
/// that raced to make a key end up using one. Called through a plain Orleans client on the admin fixture's silo, on a
/// ring of the test's own (not the admin app's).
/// </summary>
[Collection(AdminCollection.Name)]
public sealed class KeyRingGrainTests(AdminSilo fixture) : IAsyncLifetime
{
    private IHost _orleans = null!;
    private IDataProtectionKeyRingGrain _ring = null!;

    public async Task InitializeAsync()
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client => client.UseLocalhostClustering(fixture.Silo.GatewayPort, "elemta", "elemta"));
        _orleans = builder.Build();
        await _orleans.StartAsync();
        _ring = _orleans.Services.GetRequiredService<IGrainFactory>().GetGrain<IDataProtectionKeyRingGrain>("test-" + Guid.NewGuid().ToString("N"));
    }

    public async Task DisposeAsync()
    {
        await _orleans.StopAsync();
        _orleans.Dispose();
    }

    [Fact]
    public async Task Of_two_hosts_that_read_an_empty_ring_only_the_first_stores_its_key()
    {
        Assert.Empty(await _ring.GetElementsAsync());

        Assert.True(await _ring.StoreElementAsync(Key("key-a"), elementsRead: 0));
        Assert.False(await _ring.StoreElementAsync(Key("key-b"), elementsRead: 0));

        // The second host reads again, finds the first key and stores nothing; a retried write of the stored key is
        // accepted and does not add it twice.
        var elements = await _ring.GetElementsAsync();
        Assert.Equal(["key-a"], elements.Select(e => e.Name));
        Assert.True(await _ring.StoreElementAsync(Key("key-a"), elementsRead: 0));
        Assert.Single(await _ring.GetElementsAsync());

        // A key made from a current read (a rollover) is stored; so is a revocation, whatever was read.
        Assert.True(await _ring.StoreElementAsync(Key("key-c"), elementsRead: 1));
        Assert.True(await _ring.StoreElementAsync(new DataProtectionKeyElement("revocation-20261203T000000Z", "<revocation version=\"1\" />"), elementsRead: 0));
        Assert.Equal(["key-a", "key-c", "revocation-20261203T000000Z"], (await _ring.GetElementsAsync()).Select(e => e.Name));
    }

    private static DataProtectionKeyElement Key(string name) => new(name, $"<key id=\"{name}\" version=\"1\" />");
}
