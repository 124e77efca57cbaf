using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Configuration;

namespace Elemta.Plugins;

/// <summary>
/// The entry point of a plugin: one public class per plugin assembly implements it (with a public parameterless
/// constructor), and also implements the hook-family interfaces (<see cref="IConnectionHooks"/>,
/// <see cref="IMessageHooks"/>, …) whose events it wants. The server finds the class, creates one instance per load,
/// calls <see cref="InitializeAsync"/>, and disposes it (<see cref="IDisposable"/> or <see cref="IAsyncDisposable"/>)
/// when the plugin is unloaded or replaced.
/// </summary>
/// <remarks>Hooks are called concurrently from many SMTP sessions: an implementation must be thread-safe.</remarks>
public interface IElemtaPlugin
{
    /// <summary>The plugin's name: how configuration (<c>Elemta:Plugins:Items:&lt;Name&gt;</c>), logs, metrics and other plugins' dependencies refer to it.</summary>
    string Name { get; }

    /// <summary>The plugin's version, for logs and for telling a replacement from the version it replaced.</summary>
    Version Version { get; }

    /// <summary>The names of the plugins this one needs; they are loaded first and their hooks run first. A cycle or a missing name stops the server's start.</summary>
    IReadOnlyList<string> Dependencies => [];

    /// <summary>
    /// Which sessions the plugin's SMTP hooks are called for. The server skips the plugin, at no cost, in sessions
    /// outside its scope (so a policy for inbound mail costs nothing on a relay for the organisation's own hosts).
    /// Read once, when the plugin is loaded. Default <see cref="PluginScope.All"/>.
    /// </summary>
    PluginScope Scope => PluginScope.All;

    /// <summary>Called once after loading, before any hook; a plugin that throws here is not loaded.</summary>
    /// <param name="context">The plugin's name as configured and its settings.</param>
    /// <param name="cancellationToken">Cancelled when the server stops or the plugin's time budget runs out.</param>
    ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken) => default;
}

/// <summary>Which SMTP sessions a plugin's hooks are called for (<see cref="IElemtaPlugin.Scope"/>).</summary>
public enum PluginScope
{
    /// <summary>Every session.</summary>
    All = 0,

    /// <summary>
    /// Inbound mail only: sessions of clients outside the trusted networks that have not authenticated (the mail
    /// Postfix's <c>smtpd_recipient_restrictions</c> check after <c>permit_mynetworks, permit_sasl_authenticated</c>).
    /// </summary>
    Inbound = 1,

    /// <summary>The organisation's own mail only: sessions of trusted or authenticated clients.</summary>
    Outbound = 2,
}

/// <summary>What the server gives a plugin when it loads it.</summary>
/// <param name="Settings">The section <c>Elemta:Plugins:Items:&lt;Name&gt;:Settings</c> (empty when not configured).</param>
/// <param name="TimeProvider">The server's clock; use it rather than <see cref="DateTimeOffset.UtcNow"/> so tests can control time.</param>
public sealed record PluginContext(IConfiguration Settings, TimeProvider TimeProvider)
{
    /// <summary>
    /// A logger in the server's log, category <c>Elemta.Plugins.&lt;Name&gt;</c>, so a plugin's lines carry its name and
    /// follow the server's <c>Logging</c> configuration (a no-op logger when the host has none).
    /// </summary>
    public ILogger Logger { get; init; } = NullLogger.Instance;
}
