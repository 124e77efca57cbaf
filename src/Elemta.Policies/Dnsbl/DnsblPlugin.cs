using System.Globalization;
using System.Net;
using DnsClient;
using DnsClient.Protocol;
using Elemta.Delivery.Dns;
using Elemta.MailAuth.Spf;
using Elemta.Plugins;
using Microsoft.Extensions.Options;

namespace Elemta.Policies.Dnsbl;

/// <summary>
/// DNS block lists as a built-in plugin: at connect, the client's address is looked up in each configured zone
/// (RFC 5782 §2.1: the address's labels reversed, IPv6 by nibble, under the zone); a listed client is refused before
/// the greeting with <c>554 5.7.1</c> naming the zone, as Postfix's <c>reject_rbl_client</c> does. A zone that does
/// not answer is skipped (logged by the host as nothing: the lookup's error is not a listing).
/// </summary>
public sealed class DnsblPlugin(DnsLookup dns, IOptions<DnsblOptions> options) : IElemtaPlugin, IConnectionHooks
{
    /// <summary>The plugin's name (settings under <c>Elemta:Plugins:Items:dnsbl</c>).</summary>
    public const string PluginName = "dnsbl";

    private readonly DnsblOptions _options = options.Value;

    /// <inheritdoc />
    public string Name => PluginName;

    /// <inheritdoc />
    public Version Version { get; } = typeof(DnsblPlugin).Assembly.GetName().Version ?? new Version(1, 0);

    /// <summary>Clients outside the trusted networks, unless those are checked too.</summary>
    public PluginScope Scope => _options.CheckTrustedClients ? PluginScope.All : PluginScope.Inbound;

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnConnectAsync(SessionInfo session, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        if (session.IsTrusted && !_options.CheckTrustedClients)
        {
            return HookDecision.Continue;
        }

        // The access list allowed this client explicitly (its plugin runs first, at connect).
        if (session.Items.TryGetValue(AccessLists.AccessListPlugin.SessionItem, out var listed) && listed is "allow")
        {
            return HookDecision.Continue;
        }

        var address = session.Client.Address.IsIPv4MappedToIPv6 ? session.Client.Address.MapToIPv4() : session.Client.Address;
        // SpfEvaluator.ReverseName gives "<reversed>.in-addr.arpa" or ".ip6.arpa": the block-list name is the same labels.
        var reversed = SpfEvaluator.ReverseName(address);
        reversed = reversed[..reversed.LastIndexOf(address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? ".in-addr.arpa" : ".ip6.arpa", StringComparison.Ordinal)];
        foreach (var (zone, settings) in _options.Zones)
        {
            if (await ListedAsync($"{reversed}.{zone}", settings, cancellationToken).ConfigureAwait(false) is { } code)
            {
                return HookDecision.Reject(string.Create(CultureInfo.InvariantCulture, $"Service unavailable; client host [{address}] blocked using {zone} ({code})"), 554, "5.7.1");
            }
        }

        return HookDecision.Continue;
    }

    /// <summary>The listing's answer when <paramref name="name"/> is listed with a code that counts, else null.</summary>
    private async Task<string?> ListedAsync(string name, DnsblZoneOptions zone, CancellationToken cancellationToken)
    {
        IDnsQueryResponse response;
        try
        {
            response = await dns.QueryAsync(name, QueryType.A, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return null; // the list did not answer: not a listing
        }

        if (response.HasError)
        {
            return null;
        }

        foreach (var record in response.Answers.OfType<ARecord>())
        {
            var bytes = record.Address.GetAddressBytes();
            if (bytes[0] != 127)
            {
                continue;
            }

            var code = record.Address.ToString();
            if (zone.ReturnCodes.Count == 0 || zone.ReturnCodes.Contains(code, StringComparer.Ordinal))
            {
                return code;
            }
        }

        return null;
    }
}
