using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Dns;

/// <summary>One host to try for a domain, with the addresses to connect to in order.</summary>
/// <param name="Name">The MX host name (or the route's host).</param>
/// <param name="Preference">MX preference; lower is tried first.</param>
/// <param name="Addresses">Addresses of the host.</param>
/// <param name="Port">TCP port.</param>
/// <param name="Secure">
/// Whether the validating resolver vouched (AD bit) for both the MX answer and the host's addresses, the condition for
/// looking up its TLSA records (DANE, RFC 7672 section 2.2). False for routes.
/// </param>
public sealed record DeliveryTarget(string Name, int Preference, IReadOnlyList<IPAddress> Addresses, int Port, bool Secure = false);

/// <summary>The answer to "where does mail for this domain go?".</summary>
public sealed record RouteResolution
{
    /// <summary>Hosts in the order to try them; empty when <see cref="Failure"/> is set.</summary>
    public IReadOnlyList<DeliveryTarget> Targets { get; init; } = [];

    /// <summary>Why there is nowhere to go, as an SMTP-style reply.</summary>
    public string? Failure { get; init; }

    /// <summary>Whether <see cref="Failure"/> is final (null MX, no such domain) or worth retrying (DNS trouble).</summary>
    public bool FailureIsPermanent { get; init; }

    /// <summary>Whether the targets come from a configured route rather than the domain's MX (then MTA-STS does not apply).</summary>
    public bool IsRoute { get; init; }

    /// <summary>The relay (<c>Elemta:Delivery:Relays:&lt;name&gt;</c>) the route leads to, or null.</summary>
    public string? Relay { get; init; }
}

/// <summary>
/// Finds the hosts that receive mail for a domain: a configured route if any, else MX records in preference
/// order with random order among equal preferences (RFC 5321 §5.1), else the domain's own A/AAAA records
/// (the implicit MX), and a null MX (RFC 7505) as a permanent failure.
/// </summary>
public sealed class MxResolver
{
    private readonly DnsLookup _dns;
    private readonly DeliveryOptions _options;

    /// <summary>Creates the resolver from configuration.</summary>
    /// <param name="delivery">Routes and the SMTP port.</param>
    /// <param name="dns">Name servers; used only when <paramref name="lookup"/> is null.</param>
    /// <param name="lookup">The shared, cached DNS lookup; null builds one of its own from <paramref name="dns"/>.</param>
    public MxResolver(IOptions<DeliveryOptions> delivery, IOptions<DnsOptions> dns, DnsLookup? lookup = null)
    {
        _options = delivery.Value;
        _dns = lookup ?? new DnsLookup(dns);
        Routing = new DeliveryRouting(_options);
    }

    /// <summary>Routes, relays and rules, compiled from <c>Elemta:Delivery</c>.</summary>
    public DeliveryRouting Routing { get; }

    /// <summary>The DNS lookup this resolver uses, shared with the TLSA lookups of DANE.</summary>
    internal DnsLookup Dns => _dns;

    /// <summary>Builds the DNS client for the configured name servers (or the system's).</summary>
    public static ILookupClient CreateLookupClient(DnsOptions options)
    {
        var servers = new List<IPEndPoint>();
        foreach (var server in options.Servers)
        {
            if (!Endpoints.TryParseNameServer(server, out var endPoint, out var error))
            {
                throw new OptionsValidationException(DnsOptions.SectionName, typeof(DnsOptions), [$"Elemta:Dns:Servers entry '{server}' {error}."]);
            }

            servers.Add(endPoint!);
        }

        var lookupOptions = servers.Count > 0 ? new LookupClientOptions([.. servers]) : new LookupClientOptions();
        // DnsClient's own cache has no size bound; DnsLookup caches instead (DnsCache).
        lookupOptions.UseCache = false;
        lookupOptions.Timeout = options.Timeout;
        lookupOptions.Retries = options.Retries;
        // The DO bit (RFC 3225) asks a validating resolver for the AD bit, which DANE trusts (as Postfix's
        // smtp_dns_support_level = dnssec does); resolvers that do not validate simply never set it.
        lookupOptions.RequestDnsSecRecords = true;
        // DNS errors are answers here (NXDOMAIN decides a bounce), not exceptions.
        lookupOptions.ThrowDnsErrors = false;
        lookupOptions.ContinueOnDnsError = false;
        lookupOptions.ContinueOnEmptyResponse = false;
        return new LookupClient(lookupOptions);
    }

    /// <summary>Resolves where mail for <paramref name="domain"/> goes.</summary>
    public async Task<RouteResolution> ResolveAsync(string domain, CancellationToken cancellationToken)
    {
        if (Routing.RouteFor(domain) is { } route)
        {
            return await ResolveRouteAsync(route, cancellationToken).ConfigureAwait(false);
        }

        IDnsQueryResponse mx;
        try
        {
            mx = await _dns.QueryAsync(domain, QueryType.MX, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException ex)
        {
            return new RouteResolution { Failure = $"451 4.4.3 DNS lookup of MX for {domain} failed: {ex.Message}" };
        }

        if (mx.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
        {
            return new RouteResolution { Failure = $"550 5.1.2 domain {domain} does not exist (NXDOMAIN)", FailureIsPermanent = true };
        }

        if (mx.HasError)
        {
            return new RouteResolution { Failure = $"451 4.4.3 DNS lookup of MX for {domain} failed: {mx.ErrorMessage}" };
        }

        var records = mx.Answers.MxRecords().ToList();
        if (records.Count == 0)
        {
            // RFC 5321 §5.1: no MX records means the domain itself is the implicit MX.
            // Its denial of MX records must be as authenticated as an MX answer would be for DANE to apply.
            var (implicitAddresses, implicitSecure) = await ResolveAddressesAsync(domain, cancellationToken).ConfigureAwait(false);
            return implicitAddresses.Count == 0
                ? new RouteResolution { Failure = $"451 4.4.4 {domain} has neither MX nor address records" }
                : new RouteResolution { Targets = [new DeliveryTarget(domain, 0, implicitAddresses, _options.SmtpPort, mx.Header.IsAuthenticData && implicitSecure)] };
        }

        // RFC 7505: a single MX of "." means the domain accepts no mail.
        if (records.Count == 1 && IsRoot(records[0].Exchange.Value))
        {
            return new RouteResolution { Failure = $"556 5.1.10 {domain} accepts no mail (null MX, RFC 7505)", FailureIsPermanent = true };
        }

        var ordered = records
            .Where(r => !IsRoot(r.Exchange.Value))
            .GroupBy(r => r.Preference)
            .OrderBy(g => g.Key)
            .SelectMany(g => g.OrderBy(_ => Random.Shared.Next()))
            .ToList();

        var targets = new List<DeliveryTarget>(ordered.Count);
        foreach (var record in ordered)
        {
            var host = record.Exchange.Value.TrimEnd('.');
            var (addresses, secure) = await ResolveAddressesAsync(host, cancellationToken).ConfigureAwait(false);
            if (addresses.Count > 0)
            {
                targets.Add(new DeliveryTarget(host, record.Preference, addresses, _options.SmtpPort, mx.Header.IsAuthenticData && secure));
            }
        }

        return targets.Count == 0
            ? new RouteResolution { Failure = $"451 4.4.4 no MX host of {domain} has an address" }
            : new RouteResolution { Targets = targets };
    }

    /// <summary>Resolves a configured route or relay (<see cref="DeliveryRouting"/>) to its one target.</summary>
    public async Task<RouteResolution> ResolveRouteAsync(RouteTarget route, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(route);
        var (addresses, _) = await ResolveAddressesAsync(route.Host, cancellationToken).ConfigureAwait(false);
        var what = route.Relay is null ? "route host" : $"relay {route.Relay} host";
        return addresses.Count == 0
            ? new RouteResolution { Failure = $"451 4.4.4 {what} {route.Host} has no address" }
            : new RouteResolution { Targets = [new DeliveryTarget(route.Host, 0, addresses, route.Port)], IsRoute = true, Relay = route.Relay };
    }

    /// <summary>
    /// The A and AAAA addresses of <paramref name="host"/>, and whether every answer that gave addresses was
    /// authenticated (RFC 7672 section 2.2.2: TLSA records are looked up only for hosts whose addresses are secure).
    /// </summary>
    private async Task<(IReadOnlyList<IPAddress> Addresses, bool Secure)> ResolveAddressesAsync(string host, CancellationToken cancellationToken)
    {
        if (IPAddress.TryParse(host, out var literal))
        {
            return ([literal], false);
        }

        var addresses = new List<IPAddress>();
        var secure = true;
        foreach (var type in AddressQueryTypes)
        {
            try
            {
                var response = await _dns.QueryAsync(host, type, cancellationToken).ConfigureAwait(false);
                if (!response.HasError)
                {
                    var found = response.Answers.OfType<AddressRecord>()
                        .Select(r => r.Address)
                        .Where(a => a.AddressFamily is AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
                        .ToList();
                    secure &= found.Count == 0 || response.Header.IsAuthenticData;
                    addresses.AddRange(found);
                }
            }
            catch (DnsResponseException)
            {
                // One failed family is not fatal: the other may answer.
            }
        }

        return (addresses, secure && addresses.Count > 0);
    }

    private static readonly QueryType[] AddressQueryTypes = [QueryType.A, QueryType.AAAA];

    private static bool IsRoot(string name) => name is "." or "";
}
