using Microsoft.Extensions.Configuration;

namespace Elemta.Plugins;

/// <summary>What a plugin's failure (an exception, or its time budget exceeded) means for the mail it was asked about.</summary>
public enum PluginFailurePolicy
{
    /// <summary>The failure is logged and counted and the plugin's answer taken as "continue": mail flows without it.</summary>
    FailOpen = 0,

    /// <summary>The failure is logged and counted and the client is told to try again later (<c>451 4.3.0</c>): no mail passes unchecked.</summary>
    FailClosed = 1,
}

/// <summary>The plugin host's settings, section <c>Elemta:Plugins</c>.</summary>
public sealed class PluginOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Plugins";

    /// <summary>
    /// The plugins folder: each subfolder is one plugin, holding its assembly, its <c>.deps.json</c> and its
    /// dependencies as <c>dotnet build -o</c> leaves them. Watched while the server runs. Unset: no plugins.
    /// </summary>
    public string? Directory { get; set; }

    /// <summary>Whether changes to the folder are picked up while the server runs (hot load and reload). Default on.</summary>
    public bool Watch { get; set; } = true;

    /// <summary>How long the folder must stay unchanged before a change is loaded, so a copy in progress is not loaded half-written. Default 1 s.</summary>
    public TimeSpan ReloadDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Per-plugin settings, by plugin name (<see cref="IElemtaPlugin.Name"/>); a plugin without an entry gets the defaults.</summary>
    public Dictionary<string, PluginItemOptions> Items { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The entry for <paramref name="name"/>, or the defaults.</summary>
    /// <param name="name">A plugin name.</param>
    public PluginItemOptions For(string name) =>
        Items.FirstOrDefault(i => string.Equals(i.Key, name, StringComparison.OrdinalIgnoreCase)).Value ?? new PluginItemOptions();
}

/// <summary>One plugin's settings, section <c>Elemta:Plugins:Items:&lt;name&gt;</c>.</summary>
public sealed class PluginItemOptions
{
    /// <summary>
    /// Whether the plugin is loaded. Unset: a plugin in the plugins folder is loaded, and a built-in plugin as its
    /// registration says (Elemta's own mail authentication on, the scanners off until configured).
    /// </summary>
    public bool? Enabled { get; set; }

    /// <summary>Where the plugin's hooks run among the others: lower first (after its dependencies). Default 0; ties by name.</summary>
    public int Order { get; set; }

    /// <summary>What a failure of this plugin means. Default <see cref="PluginFailurePolicy.FailOpen"/>.</summary>
    public PluginFailurePolicy FailurePolicy { get; set; } = PluginFailurePolicy.FailOpen;

    /// <summary>The time budget of each hook call (and of initialisation). Default 5 s; at most 5 min.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The plugin's own settings, free-form; handed to it as <see cref="PluginContext.Settings"/>.</summary>
    public IConfigurationSection? Settings { get; set; }
}
