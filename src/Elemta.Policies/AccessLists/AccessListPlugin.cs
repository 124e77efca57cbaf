using System.Net;
using Elemta.Contracts;
using Elemta.Plugins;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Policies.AccessLists;

/// <summary>
/// The IP access list (<see cref="IAccessListGrain"/>) as a built-in plugin at connect: the most specific entry whose
/// network holds the client's address decides (the longest prefix; at equal prefixes deny wins). A denied client is
/// refused before the greeting with <c>554 5.7.1 Access denied for &lt;ip&gt;</c>; an allowed one is marked with
/// <see cref="SessionItem"/> = <c>"allow"</c> so later policies (DNSBL, greylisting) may skip it; an address no entry
/// holds goes on as if there were no list.
/// </summary>
/// <remarks>
/// The plugin keeps a copy of the list and refreshes it from the grain every <see cref="AccessListOptions.RefreshInterval"/>
/// on a timer, so a connection costs no grain call and a change reaches every silo within the interval. A refresh that
/// fails keeps the last good list (and logs why). Until the first refresh has succeeded a connection waits for one; if
/// that fails the hook throws and the plugin's failure policy (<c>Elemta:Plugins:Items:access-list:FailurePolicy</c>)
/// decides. In a host without Orleans (an SMTP front-end under test) there is no list to read: the plugin logs that
/// once and lets every connection go on.
/// </remarks>
public sealed partial class AccessListPlugin(IServiceProvider services, IOptions<AccessListOptions> options, ILogger<AccessListPlugin> logger)
    : IElemtaPlugin, IConnectionHooks, IAsyncDisposable
{
    /// <summary>The plugin's name (settings under <c>Elemta:Plugins:Items:access-list</c>).</summary>
    public const string PluginName = "access-list";

    /// <summary>The <see cref="SessionInfo.Items"/> key an allowed client's session carries, with the value <c>"allow"</c>.</summary>
    public const string SessionItem = "access-list";

    private readonly TimeSpan _interval = options.Value.RefreshInterval;
    private readonly IGrainFactory? _grains = services.GetService<IGrainFactory>();
    private readonly SemaphoreSlim _refreshing = new(1, 1);
    private volatile Matcher? _current;
    private ITimer? _timer;
    private TimeProvider _time = TimeProvider.System;
    private bool _failing;

    /// <inheritdoc />
    public string Name => PluginName;

    /// <inheritdoc />
    public Version Version { get; } = typeof(AccessListPlugin).Assembly.GetName().Version ?? new Version(1, 0);

    /// <summary>The version of the list this silo enforces; -1 before the first successful read.</summary>
    internal long LoadedVersion => _current?.Version ?? -1;

    /// <inheritdoc />
    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        _time = context.TimeProvider;
        if (_grains is null)
        {
            LogNoGrains();
            _current = new Matcher(new AccessList(0, []));
            return ValueTask.CompletedTask;
        }

        // The first read is started now but not awaited: the plugin host may start before the silo takes grain calls.
        _timer = _time.CreateTimer(static state => _ = ((AccessListPlugin)state!).RefreshAsync(CancellationToken.None), this, TimeSpan.Zero, _interval);
        return ValueTask.CompletedTask;
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnConnectAsync(SessionInfo session, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        var matcher = _current;
        if (matcher is null)
        {
            await RefreshAsync(cancellationToken).ConfigureAwait(false);
            matcher = _current ?? throw new InvalidOperationException("the access list could not be read from its grain yet");
        }

        if (matcher.IsEmpty)
        {
            return HookDecision.Continue;
        }

        var address = session.Client.Address.IsIPv4MappedToIPv6 ? session.Client.Address.MapToIPv4() : session.Client.Address;
        switch (matcher.Match(address))
        {
            case AccessListAction.Deny:
                return HookDecision.Reject($"Access denied for {address}", 554, "5.7.1");
            case AccessListAction.Allow:
                session.Items[SessionItem] = "allow";
                return HookDecision.Continue;
            default:
                return HookDecision.Continue;
        }
    }

    /// <summary>Reads the list from the grain when its version changed; a failure keeps the last good list.</summary>
    internal async Task RefreshAsync(CancellationToken cancellationToken)
    {
        if (!await _refreshing.WaitAsync(0, cancellationToken).ConfigureAwait(false))
        {
            // A refresh is under way: wait for it instead of starting another.
            await _refreshing.WaitAsync(cancellationToken).ConfigureAwait(false);
            _refreshing.Release();
            return;
        }

        try
        {
            var known = _current?.Version ?? -1;
            // Bounded, so a silo that cannot reach the grain's activation does not pile up timer callbacks.
            var list = await _grains!.GetGrain<IAccessListGrain>(IAccessListGrain.DefaultKey).GetIfChangedAsync(known)
                .WaitAsync(_interval + TimeSpan.FromSeconds(5), _time, cancellationToken).ConfigureAwait(false);
            if (_failing)
            {
                _failing = false;
                LogRecovered(known);
            }

            if (list is not null)
            {
                _current = new Matcher(list);
                LogLoaded(list.Version, list.Entries.Length);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException && !cancellationToken.IsCancellationRequested)
        {
            if (!_failing)
            {
                // Once per outage, not every interval.
                _failing = true;
                LogRefreshFailed(ex.GetType().Name, ex.Message, _current?.Version ?? -1);
            }
        }
        finally
        {
            _refreshing.Release();
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }

        // Not disposed: a timer callback already running may still release it.
        GC.SuppressFinalize(this);
    }

    [LoggerMessage(EventId = 17110, Level = LogLevel.Information, Message = "Access list version {Version} loaded ({Count} entries)")]
    private partial void LogLoaded(long version, int count);

    [LoggerMessage(EventId = 17111, Level = LogLevel.Warning, Message = "Access list could not be read ({ExceptionType}: {Reason}); version {Version} stays in force (-1: none yet)")]
    private partial void LogRefreshFailed(string exceptionType, string reason, long version);

    [LoggerMessage(EventId = 17113, Level = LogLevel.Warning, Message = "Access list not enforced: this host has no Orleans grain factory to read it from")]
    private partial void LogNoGrains();

    [LoggerMessage(EventId = 17112, Level = LogLevel.Information, Message = "Access list readable again (had version {Version})")]
    private partial void LogRecovered(long version);

    /// <summary>One version of the list, ordered so the first network that holds an address is the one that decides.</summary>
    internal sealed class Matcher
    {
        private readonly (IPNetwork Network, AccessListAction Action)[] _entries;

        public Matcher(AccessList list)
        {
            Version = list.Version;
            _entries = [.. list.Entries
                .Select(e => (Network: IPNetwork.Parse(e.Network), e.Action))
                .OrderByDescending(e => e.Network.PrefixLength)
                .ThenByDescending(e => e.Action == AccessListAction.Deny)];
        }

        public long Version { get; }

        public bool IsEmpty => _entries.Length == 0;

        /// <summary>The action of the most specific entry holding <paramref name="address"/>, or null.</summary>
        public AccessListAction? Match(IPAddress address)
        {
            foreach (var (network, action) in _entries)
            {
                if (network.BaseAddress.AddressFamily == address.AddressFamily && network.Contains(address))
                {
                    return action;
                }
            }

            return null;
        }
    }
}
