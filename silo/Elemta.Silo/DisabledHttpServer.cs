using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Http.Features;

namespace Elemta.Silo;

/// <summary>
/// The server of a silo with <c>Elemta:Http:Enabled=false</c>: it listens nowhere. Kestrel, given no address, would
/// listen on localhost:5000 instead of not at all.
/// </summary>
internal sealed class DisabledHttpServer : IServer
{
    public IFeatureCollection Features { get; } = new FeatureCollection();

    public Task StartAsync<TContext>(IHttpApplication<TContext> application, CancellationToken cancellationToken)
        where TContext : notnull => Task.CompletedTask;

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public void Dispose()
    {
    }
}
