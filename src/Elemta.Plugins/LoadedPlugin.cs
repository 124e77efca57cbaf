using System.Runtime.CompilerServices;

namespace Elemta.Plugins;

/// <summary>
/// One loaded version of a plugin: its instance, its load context and its settings, and the count of hook calls in
/// flight, so that a replaced version is unloaded only after its last call has finished.
/// </summary>
public sealed class LoadedPlugin
{
    // _state: calls in flight in the low bits; Retired when replaced or removed; Closed once unloading has begun
    // (no new call may enter). Kept in one int so that "no calls and retired" is decided atomically.
    private const int Retired = 1 << 30;
    private const int Closed = 1 << 29;
    private int _state;
    private object? _instance;
    private PluginLoadContext? _context;
    private readonly Action<LoadedPlugin> _unload;

    internal LoadedPlugin(object instance, PluginLoadContext? context, string folder, string fingerprint, PluginItemOptions options, Action<LoadedPlugin> unload)
    {
        var plugin = (IElemtaPlugin)instance;
        _instance = instance;
        _context = context;
        _unload = unload;
        Name = plugin.Name;
        Version = plugin.Version;
        Dependencies = [.. plugin.Dependencies];
        Scope = plugin.Scope;
        Folder = folder;
        Fingerprint = fingerprint;
        Options = options;
        ContextReference = new WeakReference(context, trackResurrection: false);
    }

    /// <summary>The plugin's name.</summary>
    public string Name { get; }

    /// <summary>The plugin's version.</summary>
    public Version Version { get; }

    /// <summary>The names of the plugins it depends on.</summary>
    public IReadOnlyList<string> Dependencies { get; }

    /// <summary>The sessions its SMTP hooks are called for.</summary>
    public PluginScope Scope { get; }

    /// <summary>The folder it was loaded from; <see cref="BuiltInFolder"/> for a plugin that ships with the server.</summary>
    public string Folder { get; }

    /// <summary>The <see cref="Folder"/> of built-in plugins, which have none.</summary>
    public const string BuiltInFolder = "(built-in)";

    /// <summary>Whether the plugin ships with the server (registered in its services) rather than loaded from the plugins folder.</summary>
    public bool IsBuiltIn => _context is null && Folder == BuiltInFolder;

    /// <summary>The meter of a plugin that contributes metrics (<see cref="IMetricsHooks"/>), disposed when it is unloaded.</summary>
    internal System.Diagnostics.Metrics.Meter? Meter { get; set; }

    /// <summary>The plugin's settings as they were when it was loaded.</summary>
    public PluginItemOptions Options { get; }

    /// <summary>A weak reference to the load context: not alive once the context has been unloaded and collected.</summary>
    public WeakReference ContextReference { get; }

    /// <summary>Whether this version has been replaced or removed.</summary>
    public bool IsRetired => (Volatile.Read(ref _state) & Retired) != 0;

    /// <summary>The size and time of every file in the folder: a different fingerprint means a different version on disk.</summary>
    internal string Fingerprint { get; }

    /// <summary>The plugin instance, or null once unloading began.</summary>
    internal object? Instance => Volatile.Read(ref _instance);

    /// <summary>Counts a call in; false when the plugin is being unloaded (the caller then skips it).</summary>
    internal bool TryEnter()
    {
        while (true)
        {
            var state = Volatile.Read(ref _state);
            if ((state & Closed) != 0)
            {
                return false;
            }

            if (Interlocked.CompareExchange(ref _state, state + 1, state) == state)
            {
                return true;
            }
        }
    }

    /// <summary>Counts a call out; the last call out of a retired version unloads it.</summary>
    internal void Exit()
    {
        if (Interlocked.Decrement(ref _state) == Retired)
        {
            TryClose();
        }
    }

    /// <summary>Marks this version replaced or removed; it is unloaded as soon as no call is in flight.</summary>
    internal void Retire()
    {
        if ((Interlocked.Or(ref _state, Retired) & ~(Retired | Closed)) == 0)
        {
            TryClose();
        }
    }

    private void TryClose()
    {
        if (Interlocked.CompareExchange(ref _state, Retired | Closed, Retired) == Retired)
        {
            _unload(this);
        }
    }

    /// <summary>Drops the host's references to the plugin's code and starts unloading its context.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal (object? Instance, PluginLoadContext? Context) Detach() =>
        (Interlocked.Exchange(ref _instance, null), Interlocked.Exchange(ref _context, null));

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Version}";
}

/// <summary>
/// The plugins loaded now, in call order, and per hook family the ones that implement it. Immutable: a reload
/// publishes a new set, and a session keeps the set it read for the call it is making.
/// </summary>
public sealed class PluginSet
{
    /// <summary>No plugins.</summary>
    public static PluginSet Empty { get; } = new([]);

    internal PluginSet(IReadOnlyList<LoadedPlugin> plugins)
        : this(plugins, scoped: true)
    {
    }

    private PluginSet(IReadOnlyList<LoadedPlugin> plugins, bool scoped)
    {
        if (scoped)
        {
            // The two views a session picks from (For): computed once per published set, so choosing costs nothing.
            _inbound = plugins.All(p => p.Scope != PluginScope.Outbound) ? this : new PluginSet([.. plugins.Where(p => p.Scope != PluginScope.Outbound)], scoped: false);
            _outbound = plugins.All(p => p.Scope != PluginScope.Inbound) ? this : new PluginSet([.. plugins.Where(p => p.Scope != PluginScope.Inbound)], scoped: false);
        }

        All = plugins;
        Connection = Of<IConnectionHooks>(plugins);
        SmtpCommand = Of<ISmtpCommandHooks>(plugins);
        MailTransaction = Of<IMailTransactionHooks>(plugins);
        Message = Of<IMessageHooks>(plugins);
        ContentFilter = Of<IContentFilterHooks>(plugins);
        Queue = Of<IQueueHooks>(plugins);
        Delivery = Of<IDeliveryHooks>(plugins);
        Security = Of<ISecurityHooks>(plugins);
        Authentication = Of<IAuthenticationHooks>(plugins);
        Error = Of<IErrorHooks>(plugins);
        Connect = Implementing<IConnectionHooks>(Connection, nameof(IConnectionHooks.OnConnectAsync));
        Disconnect = Implementing<IConnectionHooks>(Connection, nameof(IConnectionHooks.OnDisconnectAsync));
        Helo = Implementing<ISmtpCommandHooks>(SmtpCommand, nameof(ISmtpCommandHooks.OnHeloAsync));
        AuthRequest = Implementing<ISmtpCommandHooks>(SmtpCommand, nameof(ISmtpCommandHooks.OnAuthRequestAsync));
        Auth = Implementing<ISmtpCommandHooks>(SmtpCommand, nameof(ISmtpCommandHooks.OnAuthAsync));
        StartTls = Implementing<ISmtpCommandHooks>(SmtpCommand, nameof(ISmtpCommandHooks.OnStartTlsAsync));
    }

    private readonly PluginSet? _inbound;
    private readonly PluginSet? _outbound;

    /// <summary>
    /// The plugins whose <see cref="IElemtaPlugin.Scope"/> includes a session of this kind: <paramref name="outbound"/>
    /// for a trusted or authenticated client, otherwise inbound.
    /// </summary>
    /// <param name="outbound">Whether the session's client is trusted or authenticated.</param>
    public PluginSet For(bool outbound) => (outbound ? _outbound : _inbound) ?? this;

    /// <summary>Every plugin, in call order (dependencies first, then by order and name).</summary>
    public IReadOnlyList<LoadedPlugin> All { get; }

    /// <summary>Plugins implementing <see cref="IConnectionHooks"/>; empty when none (check <c>Length</c> before any work).</summary>
    public LoadedPlugin[] Connection { get; }

    /// <summary>Plugins implementing <see cref="ISmtpCommandHooks"/>.</summary>
    public LoadedPlugin[] SmtpCommand { get; }

    // Per method, for the families whose methods run at different points of a session: a plugin is called only for
    // the methods it implements, so one that wants only AUTH (the built-in auth-lockout) costs every EHLO nothing.

    /// <summary>Plugins of <see cref="Connection"/> that implement <see cref="IConnectionHooks.OnConnectAsync"/>.</summary>
    public LoadedPlugin[] Connect { get; }

    /// <summary>Plugins of <see cref="Connection"/> that implement <see cref="IConnectionHooks.OnDisconnectAsync"/>.</summary>
    public LoadedPlugin[] Disconnect { get; }

    /// <summary>Plugins of <see cref="SmtpCommand"/> that implement <see cref="ISmtpCommandHooks.OnHeloAsync"/>.</summary>
    public LoadedPlugin[] Helo { get; }

    /// <summary>Plugins of <see cref="SmtpCommand"/> that implement <see cref="ISmtpCommandHooks.OnAuthRequestAsync"/>.</summary>
    public LoadedPlugin[] AuthRequest { get; }

    /// <summary>Plugins of <see cref="SmtpCommand"/> that implement <see cref="ISmtpCommandHooks.OnAuthAsync"/>.</summary>
    public LoadedPlugin[] Auth { get; }

    /// <summary>Plugins of <see cref="SmtpCommand"/> that implement <see cref="ISmtpCommandHooks.OnStartTlsAsync"/>.</summary>
    public LoadedPlugin[] StartTls { get; }

    /// <summary>Plugins implementing <see cref="IMailTransactionHooks"/>.</summary>
    public LoadedPlugin[] MailTransaction { get; }

    /// <summary>Plugins implementing <see cref="IMessageHooks"/>.</summary>
    public LoadedPlugin[] Message { get; }

    /// <summary>Plugins implementing <see cref="IContentFilterHooks"/>.</summary>
    public LoadedPlugin[] ContentFilter { get; }

    /// <summary>Plugins implementing <see cref="IQueueHooks"/>.</summary>
    public LoadedPlugin[] Queue { get; }

    /// <summary>Plugins implementing <see cref="IDeliveryHooks"/>.</summary>
    public LoadedPlugin[] Delivery { get; }

    /// <summary>Plugins implementing <see cref="ISecurityHooks"/>.</summary>
    public LoadedPlugin[] Security { get; }

    /// <summary>Plugins implementing <see cref="IAuthenticationHooks"/>.</summary>
    public LoadedPlugin[] Authentication { get; }

    /// <summary>Plugins implementing <see cref="IErrorHooks"/>.</summary>
    public LoadedPlugin[] Error { get; }

    /// <summary>The plugin named <paramref name="name"/>, or null.</summary>
    /// <param name="name">A plugin name.</param>
    public LoadedPlugin? Find(string name) => All.FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    private static LoadedPlugin[] Of<T>(IReadOnlyList<LoadedPlugin> plugins) => [.. plugins.Where(p => p.Instance is T)];

    private static LoadedPlugin[] Implementing<T>(LoadedPlugin[] plugins, string method) =>
        [.. plugins.Where(p => p.Instance is { } instance && Implements(instance.GetType(), typeof(T), method))];

    /// <summary>Whether <paramref name="type"/> implements <paramref name="method"/> of <paramref name="family"/> itself rather than leaving it to the interface's default.</summary>
    internal static bool Implements(Type type, Type family, string method)
    {
        var map = type.GetInterfaceMap(family);
        for (var i = 0; i < map.InterfaceMethods.Length; i++)
        {
            if (map.InterfaceMethods[i].Name == method)
            {
                return map.TargetMethods[i].DeclaringType != family;
            }
        }

        return false;
    }
}
