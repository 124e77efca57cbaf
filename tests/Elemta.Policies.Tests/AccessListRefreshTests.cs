using System.Collections.Immutable;
using System.Reflection;
using Elemta.Contracts;
using Elemta.Policies.AccessLists;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Elemta.Policies.Tests;

/// <summary>
/// The plugin's cached copy of the list: replaced by a newer version, kept when the grain cannot be read. The grain
/// is stood in for by a proxy whose answer the test sets, because what is under test is what the plugin does when a
/// grain call fails; the real grain and plugin together are tested on real silos (Elemta.Silo.Tests AccessListTests).
/// </summary>
public sealed class AccessListRefreshTests
{
    [Fact]
    public async Task A_newer_version_replaces_the_copy_and_a_failed_read_keeps_the_last_good_one()
    {
        var grain = GrainStandIn.Create();
        var plugin = new AccessListPlugin(new ServiceCollection().AddSingleton(FactoryStandIn.Create(grain)).BuildServiceProvider(), Options.Create(new AccessListOptions()), NullLogger<AccessListPlugin>.Instance);
        Assert.Equal(-1, plugin.LoadedVersion);

        ((GrainStandIn)(object)grain).Answer = () => Task.FromResult<AccessList?>(new AccessList(3, [new AccessListEntry("192.0.2.0/24", AccessListAction.Deny, string.Empty, DateTimeOffset.UnixEpoch, "test")]));
        await plugin.RefreshAsync(CancellationToken.None);
        Assert.Equal(3, plugin.LoadedVersion);

        ((GrainStandIn)(object)grain).Answer = () => Task.FromException<AccessList?>(new TimeoutException("the silo did not answer"));
        await plugin.RefreshAsync(CancellationToken.None);
        Assert.Equal(3, plugin.LoadedVersion);

        // Unchanged (null) keeps the copy; a newer version replaces it.
        ((GrainStandIn)(object)grain).Answer = () => Task.FromResult<AccessList?>(null);
        await plugin.RefreshAsync(CancellationToken.None);
        Assert.Equal(3, plugin.LoadedVersion);
        ((GrainStandIn)(object)grain).Answer = () => Task.FromResult<AccessList?>(new AccessList(4, ImmutableArray<AccessListEntry>.Empty));
        await plugin.RefreshAsync(CancellationToken.None);
        Assert.Equal(4, plugin.LoadedVersion);
        await plugin.DisposeAsync();
    }

    /// <summary>An <see cref="IAccessListGrain"/> whose <c>GetIfChangedAsync</c> answers what the test says.</summary>
    public class GrainStandIn : DispatchProxy
    {
        public Func<Task<AccessList?>> Answer { get; set; } = () => Task.FromResult<AccessList?>(null);

        public static IAccessListGrain Create() => DispatchProxy.Create<IAccessListGrain, GrainStandIn>();

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod?.Name == nameof(IAccessListGrain.GetIfChangedAsync) ? Answer() : throw new NotSupportedException(targetMethod?.Name);
    }

    /// <summary>An <see cref="IGrainFactory"/> that hands out one access-list grain.</summary>
    public class FactoryStandIn : DispatchProxy
    {
        public IAccessListGrain? Grain { get; set; }

        public static IGrainFactory Create(IAccessListGrain grain)
        {
            var factory = DispatchProxy.Create<IGrainFactory, FactoryStandIn>();
            ((FactoryStandIn)(object)factory).Grain = grain;
            return factory;
        }

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            targetMethod is { Name: nameof(IGrainFactory.GetGrain), IsGenericMethod: true } && targetMethod.GetGenericArguments()[0] == typeof(IAccessListGrain)
                ? Grain
                : throw new NotSupportedException(targetMethod?.Name);
    }
}
