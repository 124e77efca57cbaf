namespace Elemta.Plugins;

/// <summary>
/// A plugin that ships with the server: registered in its services (<see cref="PluginServiceCollectionExtensions.AddElemtaBuiltInPlugin{TPlugin}"/>)
/// rather than loaded from the plugins folder, and otherwise run exactly like one — same hooks, order, time budget,
/// failure policy, metrics and settings (<c>Elemta:Plugins:Items:&lt;Name&gt;</c>). Elemta's own policies use it, which
/// is what shows the hook API is enough for them.
/// </summary>
public sealed class BuiltInPlugin
{
    private readonly Func<IElemtaPlugin> _create;

    /// <summary>Describes a built-in plugin.</summary>
    /// <param name="name">Its <see cref="IElemtaPlugin.Name"/>, known before it is created, so a disabled one is never created.</param>
    /// <param name="create">Creates the instance; called once, when the plugin host starts, if it is enabled.</param>
    /// <param name="enabledByDefault">Whether it runs when <c>Elemta:Plugins:Items:&lt;Name&gt;:Enabled</c> is not set.</param>
    /// <param name="defaultOrder">Its order when <c>Elemta:Plugins:Items:&lt;Name&gt;:Order</c> is not set.</param>
    /// <param name="defaultFailurePolicy">Its failure policy when <c>Elemta:Plugins:Items:&lt;Name&gt;:FailurePolicy</c> is not set.</param>
    public BuiltInPlugin(string name, Func<IElemtaPlugin> create, bool enabledByDefault, int defaultOrder = 0, PluginFailurePolicy defaultFailurePolicy = PluginFailurePolicy.FailOpen)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(create);
        Name = name;
        _create = create;
        EnabledByDefault = enabledByDefault;
        DefaultOrder = defaultOrder;
        DefaultFailurePolicy = defaultFailurePolicy;
    }

    /// <summary>The plugin's name.</summary>
    public string Name { get; }

    /// <summary>Whether it runs when its <c>Enabled</c> setting is not set.</summary>
    public bool EnabledByDefault { get; }

    /// <summary>
    /// Its order when its <c>Order</c> setting is not set. Elemta's connection and AUTH limits use a negative one so
    /// they run before every plugin at the default order 0, as they did when they were part of the server.
    /// </summary>
    public int DefaultOrder { get; }

    /// <summary>
    /// Its failure policy when its <c>FailurePolicy</c> setting is not set. Elemta's connection and AUTH limits fail
    /// closed: limits that do not answer within the plugin's budget refuse (421, 454) rather than let a client in
    /// unchecked, as they answered when they were part of the server.
    /// </summary>
    public PluginFailurePolicy DefaultFailurePolicy { get; }

    internal IElemtaPlugin Create() => _create();
}
