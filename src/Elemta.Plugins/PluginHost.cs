using System.Diagnostics;
using System.Globalization;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Plugins;

/// <summary>
/// Loads the plugins of <see cref="PluginOptions.Directory"/>, keeps the current <see cref="PluginSet"/>, reloads it
/// when the folder changes, and calls hooks in isolation (<see cref="RunAsync{THooks, TArg}"/>).
/// </summary>
/// <remarks>
/// A problem at start (a folder that is not a plugin, a missing dependency, a cycle, a failing initialisation) stops
/// the start with one line. The same problem in a reload is logged and the plugins already running stay as they are.
/// </remarks>
public sealed partial class PluginHost : IHostedService, IAsyncDisposable
{
    private readonly IOptionsMonitor<PluginOptions> _options;
    private readonly IConfiguration _configuration;
    private readonly TimeProvider _time;
    private readonly ILogger<PluginHost> _logger;
    private readonly ILoggerFactory? _loggers;
    private readonly SemaphoreSlim _reloading = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private volatile PluginSet _current = PluginSet.Empty;
    private FileSystemWatcher? _watcher;
    private ITimer? _debounce;
    private int _generation;
    private int _disposed;

    /// <summary>Creates the host; nothing is loaded before <see cref="StartAsync"/>.</summary>
    /// <param name="options">The plugin settings.</param>
    /// <param name="configuration">The configuration root, for each plugin's free-form settings.</param>
    /// <param name="time">The clock for time budgets and the reload delay.</param>
    /// <param name="logger">The log.</param>
    /// <param name="builtIns">The plugins that ship with the server (none when null).</param>
    /// <param name="loggers">Makes each plugin's <see cref="PluginContext.Logger"/> (a no-op logger when null).</param>
    public PluginHost(IOptionsMonitor<PluginOptions> options, IConfiguration configuration, TimeProvider time, ILogger<PluginHost> logger, IEnumerable<BuiltInPlugin>? builtIns = null, ILoggerFactory? loggers = null)
    {
        _options = options;
        _configuration = configuration;
        _time = time;
        _logger = logger;
        _loggers = loggers;
        _builtInRegistrations = [.. builtIns ?? []];
    }

    private readonly BuiltInPlugin[] _builtInRegistrations;

    /// <summary>The built-in plugins that are enabled, loaded once at start; part of every set published after it.</summary>
    private List<LoadedPlugin> _builtIns = [];

    /// <summary>A host that never loads anything, for code that runs SMTP sessions without a service container.</summary>
    public static PluginHost None { get; } = new(new FixedOptions(new PluginOptions()), new ConfigurationBuilder().Build(), TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger<PluginHost>.Instance);

    private sealed class FixedOptions(PluginOptions value) : IOptionsMonitor<PluginOptions>
    {
        public PluginOptions CurrentValue => value;

        public PluginOptions Get(string? name) => value;

        public IDisposable? OnChange(Action<PluginOptions, string?> listener) => null;
    }

    /// <summary>The plugins loaded now. Read once per event; <see cref="PluginSet.Empty"/> when there are none.</summary>
    public PluginSet Current => _current;

    /// <summary>How many times a set of plugins was published (the start counts once); for tests that wait for a reload.</summary>
    public int Generation => Volatile.Read(ref _generation);

    /// <summary>Loads the plugins; throws <see cref="InvalidOperationException"/> with one line when they cannot all be loaded.</summary>
    /// <param name="cancellationToken">Cancels the start.</param>
    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue;
        string? directory = null;
        if (!string.IsNullOrWhiteSpace(options.Directory))
        {
            directory = Path.GetFullPath(options.Directory);
            if (!Directory.Exists(directory))
            {
                throw new InvalidOperationException($"Elemta:Plugins:Directory {directory} does not exist.");
            }
        }

        if (await LoadBuiltInsAsync(options, cancellationToken).ConfigureAwait(false) is { } builtInProblem)
        {
            throw new InvalidOperationException($"Elemta:Plugins: {builtInProblem}");
        }

        var (set, problem) = await LoadAsync(directory, PluginSet.Empty, starting: true, cancellationToken).ConfigureAwait(false);
        if (problem is not null)
        {
            foreach (var plugin in _builtIns)
            {
                plugin.Retire();
            }

            throw new InvalidOperationException($"Elemta:Plugins: {problem}");
        }

        if (set.All.Count > 0)
        {
            Publish(set, PluginSet.Empty);
        }

        if (directory is null)
        {
            return;
        }

        if (options.Watch)
        {
            _debounce = _time.CreateTimer(_ => _ = ReloadAsync(), null, Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);
            _watcher = new FileSystemWatcher(directory) { IncludeSubdirectories = true, NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size };
            _watcher.Changed += OnChanged;
            _watcher.Created += OnChanged;
            _watcher.Deleted += OnChanged;
            _watcher.Renamed += OnChanged;
            _watcher.Error += (_, e) => LogWatchFailed(e.GetException());
            _watcher.EnableRaisingEvents = true;
        }
    }

    /// <summary>Stops watching; loaded plugins stay until the host is disposed.</summary>
    /// <param name="cancellationToken">Unused.</param>
    public Task StopAsync(CancellationToken cancellationToken)
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return Task.CompletedTask;
        }

        _stopping.Cancel();
        _watcher?.Dispose();
        _debounce?.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Unloads every plugin.</summary>
    public async ValueTask DisposeAsync()
    {
        // Registered as itself and as a hosted service, so the container disposes it twice.
        await StopAsync(CancellationToken.None).ConfigureAwait(false);
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        var set = _current;
        _current = PluginSet.Empty;
        foreach (var plugin in set.All)
        {
            plugin.Retire();
        }

        _stopping.Dispose();
    }

    private void OnChanged(object sender, FileSystemEventArgs e) =>
        // Each event pushes the reload back: a copy of many files becomes one reload once the folder is quiet.
        _debounce?.Change(_options.CurrentValue.ReloadDelay, Timeout.InfiniteTimeSpan);

    /// <summary>Rescans the folder: new folders are loaded, changed ones replace their plugin, removed ones are unloaded. Never throws.</summary>
    public async Task ReloadAsync()
    {
        var directory = _options.CurrentValue.Directory;
        if (string.IsNullOrWhiteSpace(directory) || _stopping.IsCancellationRequested || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        await _reloading.WaitAsync().ConfigureAwait(false);
        try
        {
            var old = _current;
            var (set, problem) = await LoadAsync(Path.GetFullPath(directory), old, starting: false, _stopping.Token).ConfigureAwait(false);
            if (problem is not null)
            {
                LogReloadFailed(problem);
                return;
            }

            if (!ReferenceEquals(set, old))
            {
                Publish(set, old);
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogReloadFailed(ex.Message);
        }
        finally
        {
            _reloading.Release();
        }
    }

    private void Publish(PluginSet set, PluginSet old)
    {
        _current = set;
        Interlocked.Increment(ref _generation);
        foreach (var plugin in set.All.Where(p => !old.All.Contains(p)))
        {
            LogLoaded(plugin.Name, plugin.Version, plugin.Folder, plugin.Options.Order, plugin.Options.FailurePolicy);
            CreateInstruments(plugin);
        }

        foreach (var plugin in old.All.Where(p => !set.All.Contains(p)))
        {
            // In-flight calls keep running on this version; the last one out unloads it.
            LogRetired(plugin.Name, plugin.Version);
            plugin.Retire();
        }
    }

    /// <summary>
    /// Builds the set the folder describes, reusing the plugins of <paramref name="old"/> whose files did not change.
    /// Returns <paramref name="old"/> itself when nothing changed, or a problem (and unloads what it loaded).
    /// </summary>
    /// <remarks>
    /// In a reload, a folder that cannot be loaded (most often one still being written: <c>dotnet build -o</c> creates
    /// the folder before its <c>.deps.json</c>) does not hold up the others: its running version, if any, stays, and
    /// the next change in the folder tries again.
    /// </remarks>
    private async Task<(PluginSet Set, string? Problem)> LoadAsync(string? directory, PluginSet old, bool starting, CancellationToken cancellationToken)
    {
        var options = _options.CurrentValue;
        var loaded = new List<LoadedPlugin>(_builtIns);
        var fresh = new List<LoadedPlugin>();
        try
        {
            foreach (var folder in directory is null ? Enumerable.Empty<string>() : Directory.GetDirectories(directory).Order(StringComparer.Ordinal))
            {
                var fingerprint = Fingerprint(folder);
                if (old.All.FirstOrDefault(p => p.Folder == folder && p.Fingerprint == fingerprint) is { } same)
                {
                    loaded.Add(same);
                    continue;
                }

                var (plugin, problem) = Load(folder, fingerprint, options);
                if (problem is not null)
                {
                    if (starting)
                    {
                        return (old, problem);
                    }

                    LogFolderNotLoaded(problem);
                    if (old.All.FirstOrDefault(p => p.Folder == folder) is { } running)
                    {
                        loaded.Add(running);
                    }

                    continue;
                }

                if (plugin is null)
                {
                    continue; // disabled
                }

                fresh.Add(plugin);
                loaded.Add(plugin);
            }

            if (loaded.GroupBy(p => p.Name, StringComparer.OrdinalIgnoreCase).FirstOrDefault(g => g.Count() > 1) is { } twice)
            {
                return (old, twice.Any(p => p.IsBuiltIn)
                    ? $"{string.Join(" and ", twice.Where(p => !p.IsBuiltIn).Select(p => p.Folder))} holds plugin {twice.Key}, the name of a built-in plugin; rename it"
                    : $"two folders hold plugin {twice.Key}: {string.Join(" and ", twice.Select(p => p.Folder))}");
            }

            var (ordered, orderProblem) = Order(loaded);
            if (orderProblem is not null)
            {
                return (old, orderProblem);
            }

            foreach (var plugin in fresh)
            {
                if (await InitializeAsync(plugin, cancellationToken).ConfigureAwait(false) is { } initProblem)
                {
                    return (old, initProblem);
                }
            }

            if (fresh.Count == 0 && ordered.SequenceEqual(old.All))
            {
                return (old, null);
            }

            fresh.Clear(); // published: no longer this method's to unload
            return (new PluginSet(ordered), null);
        }
        finally
        {
            foreach (var plugin in fresh)
            {
                plugin.Retire();
            }
        }
    }

    /// <summary>Creates and initialises the enabled built-in plugins; a problem (a bad name, a failing initialisation) stops the start.</summary>
    private async Task<string?> LoadBuiltInsAsync(PluginOptions options, CancellationToken cancellationToken)
    {
        var loaded = new List<LoadedPlugin>();
        foreach (var registration in _builtInRegistrations)
        {
            var item = options.For(registration.Name);
            var orderUnset = registration.DefaultOrder != 0 && _configuration.GetSection($"{PluginOptions.SectionName}:Items:{registration.Name}:Order").Value is null;
            var policyUnset = registration.DefaultFailurePolicy != PluginFailurePolicy.FailOpen
                && _configuration.GetSection($"{PluginOptions.SectionName}:Items:{registration.Name}:FailurePolicy").Value is null;
            if (orderUnset || policyUnset)
            {
                // Unset: the registration's order and failure policy, on a copy (the bound options are shared).
                item = new PluginItemOptions
                {
                    Enabled = item.Enabled,
                    Order = orderUnset ? registration.DefaultOrder : item.Order,
                    FailurePolicy = policyUnset ? registration.DefaultFailurePolicy : item.FailurePolicy,
                    Timeout = item.Timeout,
                    Settings = item.Settings,
                };
            }

            if (!(item.Enabled ?? registration.EnabledByDefault))
            {
                LogDisabled(registration.Name, LoadedPlugin.BuiltInFolder);
                continue;
            }

            var instance = registration.Create();
            if (!string.Equals(instance.Name, registration.Name, StringComparison.Ordinal))
            {
                foreach (var done in loaded)
                {
                    done.Retire();
                }

                return $"the built-in plugin registered as {registration.Name} calls itself {instance.Name}";
            }

            loaded.Add(new LoadedPlugin(instance, null, LoadedPlugin.BuiltInFolder, LoadedPlugin.BuiltInFolder, item, Unload));
        }

        foreach (var plugin in loaded)
        {
            if (await InitializeAsync(plugin, cancellationToken).ConfigureAwait(false) is { } problem)
            {
                foreach (var done in loaded)
                {
                    done.Retire();
                }

                return problem;
            }
        }

        _builtIns = loaded;
        return null;
    }

    /// <summary>Loads one folder: its main assembly (named by its <c>.deps.json</c>) and the one <see cref="IElemtaPlugin"/> class in it.</summary>
    private (LoadedPlugin? Plugin, string? Problem) Load(string folder, string fingerprint, PluginOptions options)
    {
        if (MainDeps(folder) is not { } deps)
        {
            return (null, $"{folder} is not a plugin: it needs its assembly's .deps.json beside it, as 'dotnet build -o {folder}' leaves it");
        }

        var main = deps[..^".deps.json".Length] + ".dll";
        if (!File.Exists(main))
        {
            return (null, $"{folder} is not a plugin: {Path.GetFileName(deps)} names {Path.GetFileName(main)}, which is missing");
        }

        var context = new PluginLoadContext(main);
        try
        {
            var assembly = context.LoadMain();
            var types = PluginTypes(assembly);
            if (types.Count != 1)
            {
                context.Unload();
                return (null, $"{Path.GetFileName(main)} must have exactly one public class implementing IElemtaPlugin with a public parameterless constructor (found {types.Count})");
            }

            var instance = Activator.CreateInstance(types[0])!;
            var name = ((IElemtaPlugin)instance).Name;
            if (string.IsNullOrWhiteSpace(name) || name.Any(c => char.IsControl(c) || c == ':'))
            {
                context.Unload();
                return (null, $"{Path.GetFileName(main)}: the plugin name '{name}' is empty or has a colon or control character");
            }

            var item = options.For(name);
            if (item.Enabled == false)
            {
                LogDisabled(name, folder);
                context.Unload();
                return (null, null);
            }

            return (new LoadedPlugin(instance, context, folder, fingerprint, item, Unload), null);
        }
        catch (Exception ex) when (ex is BadImageFormatException or FileLoadException or FileNotFoundException or ReflectionTypeLoadException or TargetInvocationException or MissingMethodException or TypeLoadException or IOException)
        {
            context.Unload();
            return (null, $"{folder}: cannot load {Path.GetFileName(main)}: {ex.GetType().Name}: {ex.Message}");
        }
    }

    /// <summary>
    /// The plugin's own <c>.deps.json</c>. <c>dotnet build -o</c> also leaves one for each project the plugin references
    /// (the plugin API's among them); the plugin's is the one that names all the others as its dependencies.
    /// </summary>
    private static string? MainDeps(string folder)
    {
        var api = typeof(IElemtaPlugin).Assembly.GetName().Name + ".deps.json";
        var candidates = Directory.GetFiles(folder, "*.deps.json").Where(f => !string.Equals(Path.GetFileName(f), api, StringComparison.OrdinalIgnoreCase)).ToList();
        if (candidates.Count <= 1)
        {
            return candidates.FirstOrDefault();
        }

        var mains = candidates.Where(candidate =>
        {
            var text = File.ReadAllText(candidate);
            return candidates.Where(other => other != candidate)
                .All(other => text.Contains($"\"{Path.GetFileName(other)[..^".deps.json".Length]}/", StringComparison.Ordinal));
        }).ToList();
        return mains.Count == 1 ? mains[0] : null;
    }

    private static List<Type> PluginTypes(Assembly assembly) =>
        [.. assembly.GetExportedTypes().Where(t => t.IsClass && !t.IsAbstract && typeof(IElemtaPlugin).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)];

    /// <summary>Dependencies first (depth-first), otherwise by Order then name; a missing name or a cycle is a problem.</summary>
    internal static (List<LoadedPlugin> Ordered, string? Problem) Order(IReadOnlyList<LoadedPlugin> plugins)
    {
        var byName = plugins.ToDictionary(p => p.Name, StringComparer.OrdinalIgnoreCase);
        foreach (var plugin in plugins)
        {
            if (plugin.Dependencies.FirstOrDefault(d => !byName.ContainsKey(d)) is { } missing)
            {
                return ([], $"plugin {plugin.Name} depends on {missing}, which is not loaded (no folder holds it, or Elemta:Plugins:Items:{missing}:Enabled is false)");
            }
        }

        var ordered = new List<LoadedPlugin>();
        var done = new HashSet<LoadedPlugin>();
        var path = new List<LoadedPlugin>();
        string? problem = null;
        foreach (var plugin in plugins.OrderBy(p => p.Options.Order).ThenBy(p => p.Name, StringComparer.OrdinalIgnoreCase))
        {
            Visit(plugin);
            if (problem is not null)
            {
                return ([], problem);
            }
        }

        return (ordered, null);

        void Visit(LoadedPlugin plugin)
        {
            if (problem is not null || done.Contains(plugin))
            {
                return;
            }

            if (path.IndexOf(plugin) is var at and >= 0)
            {
                problem = $"plugins depend on each other in a cycle: {string.Join(" -> ", path.Skip(at).Append(plugin).Select(p => p.Name))}";
                return;
            }

            path.Add(plugin);
            foreach (var dependency in plugin.Dependencies.Select(d => byName[d]).OrderBy(p => p.Options.Order).ThenBy(p => p.Name, StringComparer.OrdinalIgnoreCase))
            {
                Visit(dependency);
            }

            path.RemoveAt(path.Count - 1);
            done.Add(plugin);
            ordered.Add(plugin);
        }
    }

    private async Task<string?> InitializeAsync(LoadedPlugin plugin, CancellationToken cancellationToken)
    {
        var settings = plugin.Options.Settings ?? _configuration.GetSection($"{PluginOptions.SectionName}:Items:{plugin.Name}:Settings");
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        budget.CancelAfter(plugin.Options.Timeout);
        try
        {
            await ((IElemtaPlugin)plugin.Instance!).InitializeAsync(new PluginContext(settings, _time) { Logger = _loggers?.CreateLogger("Elemta.Plugins." + plugin.Name) ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance }, budget.Token)
                .AsTask().WaitAsync(plugin.Options.Timeout, _time, cancellationToken).ConfigureAwait(false);
            return null;
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
        {
            return $"plugin {plugin.Name} failed to initialise: {(ex is TimeoutException or OperationCanceledException ? $"took longer than its {plugin.Options.Timeout.TotalSeconds.ToString(CultureInfo.InvariantCulture)} s budget" : ex.Message)}";
        }
    }

    private static string Fingerprint(string folder) =>
        string.Join('|', Directory.GetFiles(folder, "*", SearchOption.AllDirectories).Order(StringComparer.Ordinal)
            .Select(f => new FileInfo(f)).Select(f => $"{f.FullName}:{f.Length}:{f.LastWriteTimeUtc.Ticks}"));

    /// <summary>
    /// Gives a plugin that contributes metrics its meter, <c>Elemta.Plugins.&lt;name&gt;</c> (exported with Elemta's
    /// own), once per loaded version; a plugin that throws here keeps running, without its instruments.
    /// </summary>
    private void CreateInstruments(LoadedPlugin plugin)
    {
        if (plugin.Instance is not IMetricsHooks metrics || !plugin.TryEnter())
        {
            return;
        }

        var meter = new System.Diagnostics.Metrics.Meter($"{PluginMetrics.Name}.{plugin.Name}", plugin.Version.ToString());
        try
        {
            metrics.CreateInstruments(meter);
            plugin.Meter = meter;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            meter.Dispose();
            LogFailed(plugin.Name, "metrics", ex.GetType().FullName, ex.Message, plugin.Options.FailurePolicy);
        }
        finally
        {
            plugin.Exit();
        }
    }

    /// <summary>Called by the last call out of a retired plugin: disposes the instance and unloads its context.</summary>
    private void Unload(LoadedPlugin plugin)
    {
        // The meter first: its observable instruments hold callbacks into the plugin's code.
        plugin.Meter?.Dispose();
        plugin.Meter = null;
        var (instance, context) = plugin.Detach();
        _ = Task.Run(async () =>
        {
            try
            {
                switch (instance)
                {
                    case IAsyncDisposable asyncDisposable:
                        await asyncDisposable.DisposeAsync().AsTask().WaitAsync(plugin.Options.Timeout, _time).ConfigureAwait(false);
                        break;
                    case IDisposable disposable:
                        disposable.Dispose();
                        break;
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogDisposeFailed(plugin.Name, ex.GetType().Name, ex.Message);
            }

            context?.Unload();
            LogUnloaded(plugin.Name, plugin.Version);
        });
    }

    /// <summary>
    /// Calls one hook of every plugin in <paramref name="plugins"/>, in order, until one decides something other than
    /// continue. Each call runs under its plugin's time budget; an exception or a timeout is logged, counted and
    /// resolved by the plugin's failure policy. Returns <see cref="HookDecision.Continue"/> when every plugin continued.
    /// </summary>
    /// <typeparam name="THooks">The hook family.</typeparam>
    /// <typeparam name="TArg">What the hook is shown.</typeparam>
    /// <param name="plugins">The plugins of the family, from <see cref="Current"/>.</param>
    /// <param name="hook">The hook's name, for logs and metrics.</param>
    /// <param name="argument">What the hook is shown.</param>
    /// <param name="call">Calls the hook (a static lambda, so no closure is allocated).</param>
    /// <param name="cancellationToken">The session's token; its cancellation propagates.</param>
    public async ValueTask<HookDecision> RunAsync<THooks, TArg>(LoadedPlugin[] plugins, string hook, TArg argument, Func<THooks, TArg, CancellationToken, ValueTask<HookDecision>> call, CancellationToken cancellationToken)
        where THooks : class
    {
        ArgumentNullException.ThrowIfNull(plugins);
        ArgumentNullException.ThrowIfNull(call);
        foreach (var plugin in plugins)
        {
            var decision = await CallAsync(plugin, hook, argument, call, cancellationToken).ConfigureAwait(false);
            switch (decision.Verdict)
            {
                case HookVerdict.Continue:
                    continue;
                case HookVerdict.Reroute when typeof(THooks) != typeof(IDeliveryHooks):
                    // Only a recipient about to be delivered has a next hop; elsewhere a reroute means nothing.
                    continue;
                case HookVerdict.Accept:
                    return HookDecision.Continue;
                default:
                    LogDecided(plugin.Name, hook, decision.Verdict, decision.Code, decision.Text);
                    return decision;
            }
        }

        return HookDecision.Continue;
    }

    /// <summary>
    /// Tells every plugin in <paramref name="plugins"/> of an event that has already happened (after the durable
    /// commit, a delivery result, an error), on the thread pool: the caller neither waits nor can be failed by a
    /// plugin, so nothing accepted can be lost or held up by one. Each call runs under its plugin's time budget;
    /// failures are logged and counted. Costs nothing when <paramref name="plugins"/> is empty.
    /// </summary>
    /// <typeparam name="THooks">The hook family.</typeparam>
    /// <typeparam name="TArg">What the hook is shown.</typeparam>
    /// <param name="plugins">The plugins of the family, from <see cref="Current"/>.</param>
    /// <param name="hook">The hook's name, for logs and metrics.</param>
    /// <param name="argument">What the hook is shown.</param>
    /// <param name="call">Calls the hook.</param>
    public void Notify<THooks, TArg>(LoadedPlugin[] plugins, string hook, TArg argument, Func<THooks, TArg, CancellationToken, ValueTask> call)
        where THooks : class
    {
        ArgumentNullException.ThrowIfNull(plugins);
        ArgumentNullException.ThrowIfNull(call);
        if (plugins.Length == 0 || Volatile.Read(ref _disposed) != 0)
        {
            return;
        }

        _ = Task.Run(() => TellAsync(plugins, hook, argument, call));
    }

    /// <summary>
    /// Tells every plugin in <paramref name="plugins"/> of an event, in order, and returns when all have been told (or
    /// failed, or run out of their budget). For a caller that is itself off the critical path and wants the plugins
    /// told before it goes on, such as a delivery attempt telling of the dequeue first. Never throws.
    /// </summary>
    /// <typeparam name="THooks">The hook family.</typeparam>
    /// <typeparam name="TArg">What the hook is shown.</typeparam>
    /// <param name="plugins">The plugins of the family, from <see cref="Current"/>.</param>
    /// <param name="hook">The hook's name, for logs and metrics.</param>
    /// <param name="argument">What the hook is shown.</param>
    /// <param name="call">Calls the hook.</param>
    public async Task TellAsync<THooks, TArg>(LoadedPlugin[] plugins, string hook, TArg argument, Func<THooks, TArg, CancellationToken, ValueTask> call)
        where THooks : class
    {
        ArgumentNullException.ThrowIfNull(plugins);
        ArgumentNullException.ThrowIfNull(call);
        try
        {
            // Every plugin is told: an observation has no verdict to stop at.
            foreach (var plugin in plugins)
            {
                await CallAsync<THooks, (TArg, Func<THooks, TArg, CancellationToken, ValueTask>)>(plugin, hook, (argument, call),
                    static (h, a, ct) => Completed(a.Item2(h, a.Item1, ct)), _stopping.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // The server is stopping.
        }
        catch (ObjectDisposedException)
        {
            // Disposed while the call was queued.
        }
    }

    /// <summary>
    /// Reports a failure the server met (and whether it recovered) to the error hooks, without waiting; never throws.
    /// Failures of error hooks themselves are logged and counted but not reported again.
    /// </summary>
    /// <param name="stage">Where it happened, e.g. <c>smtp.accept</c> or <c>delivery</c>.</param>
    /// <param name="message">What happened.</param>
    /// <param name="recovered">Whether the server recovered.</param>
    public void ReportError(string stage, string message, bool recovered) =>
        Notify<IErrorHooks, ServerError>(_current.Error, "error", new ServerError(stage, message, recovered),
            static (h, e, ct) => h.OnErrorAsync(e, ct));

    private static ValueTask<HookDecision> Completed(ValueTask done)
    {
        return done.IsCompletedSuccessfully ? HookDecision.ContinueTask : Await(done);

        static async ValueTask<HookDecision> Await(ValueTask done)
        {
            await done.ConfigureAwait(false);
            return HookDecision.Continue;
        }
    }

    private async ValueTask<HookDecision> CallAsync<THooks, TArg>(LoadedPlugin plugin, string hook, TArg argument, Func<THooks, TArg, CancellationToken, ValueTask<HookDecision>> call, CancellationToken cancellationToken)
        where THooks : class
    {
        if (!plugin.TryEnter())
        {
            return HookDecision.Continue; // being unloaded: its replacement answers the next event
        }

        var exitLater = false;
        var start = Stopwatch.GetTimestamp();
        var timeout = plugin.Options.Timeout;
        using var budget = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            if (plugin.Instance is not THooks hooks)
            {
                return HookDecision.Continue;
            }

            var pending = call(hooks, argument, budget.Token);
            if (pending.IsCompletedSuccessfully)
            {
                var result = pending.Result;
                PluginMetrics.Called(plugin.Name, hook, start, HookOutcome.Completed);
                return result;
            }

            // The budget's timer only for a call that did not finish at once (most answers from memory do): a timer
            // per hook call was measurable on the acceptance path. It counts from the call's start.
            var left = timeout - Stopwatch.GetElapsedTime(start);
            budget.CancelAfter(left > TimeSpan.Zero ? left : TimeSpan.Zero);
            var task = pending.AsTask();
            try
            {
                // WaitAsync also ends the wait for a plugin that ignores its token; the call itself runs on, and the
                // plugin's version is not unloaded before it ends.
                var result = await task.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
                PluginMetrics.Called(plugin.Name, hook, start, HookOutcome.Completed);
                return result;
            }
            finally
            {
                if (!task.IsCompleted)
                {
                    exitLater = true;
                    _ = task.ContinueWith(static (t, state) =>
                    {
                        _ = t.Exception; // observed: a late failure is not an unobserved task exception
                        ((LoadedPlugin)state!).Exit();
                    }, plugin, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
                }
            }
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw;
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            PluginMetrics.Called(plugin.Name, hook, start, HookOutcome.Timeout);
            LogTimedOut(plugin.Name, hook, timeout, plugin.Options.FailurePolicy);
            ReportPluginFailure(plugin, hook, $"{hook} exceeded its {timeout} budget");
            return Failed(plugin);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            PluginMetrics.Called(plugin.Name, hook, start, HookOutcome.Error);
            // The message only, not the exception: a logger that kept the exception would keep the plugin's types,
            // and with them its load context, alive after it is replaced.
            LogFailed(plugin.Name, hook, ex.GetType().FullName, ex.Message, plugin.Options.FailurePolicy);
            ReportPluginFailure(plugin, hook, $"{hook} threw {ex.GetType().FullName}: {ex.Message}");
            return Failed(plugin);
        }
        finally
        {
            if (!exitLater)
            {
                plugin.Exit();
            }
        }
    }

    private void ReportPluginFailure(LoadedPlugin plugin, string hook, string message)
    {
        if (hook != "error")
        {
            ReportError($"plugin:{plugin.Name}", message, recovered: true);
        }
    }

    private static HookDecision Failed(LoadedPlugin plugin) =>
        plugin.Options.FailurePolicy == PluginFailurePolicy.FailClosed
            ? new HookDecision(HookVerdict.Defer, 451, "4.3.0", "Temporary failure in a message filter, try again later")
            : HookDecision.Continue;

    [LoggerMessage(EventId = 16001, Level = LogLevel.Information, Message = "Plugin {Plugin} {Version} loaded from {Folder} (order {Order}, {FailurePolicy})")]
    private partial void LogLoaded(string plugin, Version version, string folder, int order, PluginFailurePolicy failurePolicy);

    [LoggerMessage(EventId = 16002, Level = LogLevel.Information, Message = "Plugin {Plugin} {Version} replaced or removed; it is unloaded once its calls in flight end")]
    private partial void LogRetired(string plugin, Version version);

    [LoggerMessage(EventId = 16003, Level = LogLevel.Information, Message = "Plugin {Plugin} {Version} unloaded")]
    private partial void LogUnloaded(string plugin, Version version);

    [LoggerMessage(EventId = 16004, Level = LogLevel.Information, Message = "Plugin {Plugin} in {Folder} is disabled (Elemta:Plugins:Items:{Plugin}:Enabled)")]
    private partial void LogDisabled(string plugin, string folder);

    [LoggerMessage(EventId = 16005, Level = LogLevel.Error, Message = "Plugins not reloaded, the running ones stay: {Problem}")]
    private partial void LogReloadFailed(string problem);

    [LoggerMessage(EventId = 16008, Level = LogLevel.Warning, Message = "Plugin folder not (re)loaded, its running version if any stays; the next change in it tries again: {Problem}")]
    private partial void LogFolderNotLoaded(string problem);

    [LoggerMessage(EventId = 16006, Level = LogLevel.Error, Message = "Watching the plugins folder failed; changes are not picked up until restart")]
    private partial void LogWatchFailed(Exception exception);

    [LoggerMessage(EventId = 16007, Level = LogLevel.Warning, Message = "Plugin {Plugin} failed to dispose: {ExceptionType}: {Reason}")]
    private partial void LogDisposeFailed(string plugin, string exceptionType, string reason);

    [LoggerMessage(EventId = 16010, Level = LogLevel.Error, Message = "Plugin {Plugin} hook {Hook} threw {ExceptionType}: {Reason}; {FailurePolicy} applied")]
    private partial void LogFailed(string plugin, string hook, string? exceptionType, string reason, PluginFailurePolicy failurePolicy);

    [LoggerMessage(EventId = 16011, Level = LogLevel.Error, Message = "Plugin {Plugin} hook {Hook} exceeded its {Timeout} budget; {FailurePolicy} applied")]
    private partial void LogTimedOut(string plugin, string hook, TimeSpan timeout, PluginFailurePolicy failurePolicy);

    [LoggerMessage(EventId = 16012, Level = LogLevel.Information, Message = "Plugin {Plugin} hook {Hook} decided {Verdict} {Code} {Text}")]
    private partial void LogDecided(string plugin, string hook, HookVerdict verdict, int code, string? text);
}
