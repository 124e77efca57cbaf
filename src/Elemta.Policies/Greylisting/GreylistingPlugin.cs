using System.Globalization;
using System.Net;
using Elemta.Contracts;
using Elemta.Plugins;
using Microsoft.Extensions.Options;

namespace Elemta.Policies.Greylisting;

/// <summary>
/// Greylisting (<see cref="GreylistingOptions"/>) as a built-in plugin on the security hook: each recipient of a
/// transaction from a client that is neither trusted nor authenticated is checked as a (network, sender, recipient)
/// triplet in its <see cref="IGreylistGrain"/>; a triplet that has not passed is deferred with
/// <c>450 4.2.0</c> and when to come back, as Postgrey answers.
/// </summary>
public sealed class GreylistingPlugin(IGrainFactory grains, IOptions<GreylistingOptions> options) : IElemtaPlugin, ISecurityHooks
{
    /// <summary>The plugin's name (settings under <c>Elemta:Plugins:Items:greylisting</c>).</summary>
    public const string PluginName = "greylisting";

    private readonly GreylistingOptions _options = options.Value;

    /// <inheritdoc />
    public string Name => PluginName;

    /// <inheritdoc />
    public Version Version { get; } = typeof(GreylistingPlugin).Assembly.GetName().Version ?? new Version(1, 0);

    /// <summary>Inbound mail only.</summary>
    public PluginScope Scope => PluginScope.Inbound;

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnSecurityCheckAsync(SessionInfo session, MailTransaction transaction, string recipient, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(transaction);
        ArgumentNullException.ThrowIfNull(recipient);
        if (session.IsTrusted || session.AuthenticatedUser is not null)
        {
            return HookDecision.Continue;
        }

        // The access list allowed this client explicitly (its plugin runs first, at connect).
        if (session.Items.TryGetValue(AccessLists.AccessListPlugin.SessionItem, out var listed) && listed is "allow")
        {
            return HookDecision.Continue;
        }

        var key = $"{Network(session.Client.Address)}|{transaction.Sender.ToLowerInvariant()}|{recipient.ToLowerInvariant()}";
        var decision = await grains.GetGrain<IGreylistGrain>(key).CheckAsync(_options.Delay, _options.RetryWindow, _options.PassedLifetime).ConfigureAwait(false);
        if (decision.Passed)
        {
            return HookDecision.Continue;
        }

        var seconds = Math.Max(1, (int)Math.Ceiling(decision.RetryAfter.TotalSeconds));
        return HookDecision.Defer(string.Create(CultureInfo.InvariantCulture, $"Greylisted, see RFC 6647; try again in {seconds} s"), 450, "4.2.0");
    }

    /// <summary>The client's network at the configured prefix, in CIDR form.</summary>
    private string Network(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6)
        {
            address = address.MapToIPv4();
        }

        var prefix = address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? _options.Ipv4Prefix : _options.Ipv6Prefix;
        var bytes = address.GetAddressBytes();
        for (var bit = prefix; bit < bytes.Length * 8; bit++)
        {
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return string.Create(CultureInfo.InvariantCulture, $"{new IPAddress(bytes)}/{prefix}");
    }
}
