using Elemta.Contracts;
using Elemta.Testing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Elemta.Silo.Tests;

/// <summary>
/// <see cref="GrainReferences.GetCachedGrain{TGrain}"/> against a real silo: after the first call it builds references
/// from the key alone, and they must be the very grains the ordinary <c>GetGrain</c> gives.
/// </summary>
public sealed class GrainReferencesTests
{
    [Fact]
    public async Task Cached_references_address_the_same_grains_as_GetGrain()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client => client.UseLocalhostClustering(silo.GatewayPort, "elemta", "elemta"));
        using var host = builder.Build();
        await host.StartAsync();
        var grains = host.Services.GetRequiredService<IClusterClient>();

        foreach (var key in new[] { "first.example", "second.example", "connections:127.0.0.1", "ü.example" })
        {
            var cached = grains.GetCachedGrain<IDomainQueueGrain>(key);
            var ordinary = grains.GetGrain<IDomainQueueGrain>(key);
            Assert.Equal(ordinary.GetGrainId(), cached.GetGrainId());
            Assert.Equal(key, cached.GetPrimaryKeyString());

            // And it works as a reference: the call reaches the grain (an empty queue, as nothing was sent).
            Assert.Equal(0, (await cached.ExplainAsync()).Queued);
        }

        var message = grains.GetCachedGrain<IMessageGrain>("no-such-message");
        Assert.Equal(grains.GetGrain<IMessageGrain>("no-such-message").GetGrainId(), message.GetGrainId());
        Assert.Throws<ArgumentException>(() => grains.GetCachedGrain<IMessageGrain>(" "));
        await host.StopAsync();
    }
}
