using System.Globalization;
using System.Net;
using DnsClient;
using DnsClient.Protocol;

namespace Elemta.MailAuth.Spf;

/// <summary>
/// <see cref="ISpfDns"/> over DnsClient's <see cref="LookupClient"/>, configured as outbound delivery configures its
/// own (MxResolver.CreateLookupClient): the given servers, timeout and retries, DNS errors as answers rather than
/// exceptions. NXDOMAIN and empty answers are void; a timeout, SERVFAIL, REFUSED or any other error is a temporary error.
/// </summary>
public sealed class DnsClientSpfDns : ISpfDns
{
    private readonly Func<string, QueryType, CancellationToken, Task<IDnsQueryResponse>> _query;

    /// <summary>Creates the lookup.</summary>
    /// <param name="options">Name servers and timeouts.</param>
    /// <exception cref="ArgumentException">A server entry is not <c>ip</c> or <c>ip:port</c>, or a timeout/retry count is out of range.</exception>
    public DnsClientSpfDns(SpfDnsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Timeout <= TimeSpan.Zero)
        {
            throw new ArgumentException($"SPF DNS timeout must be positive, not {options.Timeout}.", nameof(options));
        }

        if (options.Retries < 0)
        {
            throw new ArgumentException($"SPF DNS retries must be 0 or more, not {options.Retries}.", nameof(options));
        }

        var servers = new List<IPEndPoint>();
        foreach (var server in options.Servers)
        {
            servers.Add(ParseServer(server));
        }

        var lookup = servers.Count > 0 ? new LookupClientOptions([.. servers]) : new LookupClientOptions();
        // Answers are not cached here: a host that wants caching wraps ISpfDns (DnsClient's cache has no size bound).
        lookup.UseCache = false;
        lookup.Timeout = options.Timeout;
        lookup.Retries = options.Retries;
        // NXDOMAIN is a void lookup (RFC 7208 §4.6.4), an answer and not an exception.
        lookup.ThrowDnsErrors = false;
        lookup.ContinueOnDnsError = false;
        lookup.ContinueOnEmptyResponse = false;
        var client = new LookupClient(lookup);
        _query = (name, type, ct) => client.QueryAsync(name, type, QueryClass.IN, ct);
    }

    /// <summary>
    /// Creates the lookup over a query function that already has its servers, timeouts and cache (the server's
    /// shared, cached DNS lookup), so SPF answers are cached with their TTL like every other DNS answer.
    /// </summary>
    /// <param name="query">Answers (name, type); DNS errors as answers, transport failures as <see cref="DnsResponseException"/>.</param>
    public DnsClientSpfDns(Func<string, QueryType, CancellationToken, Task<IDnsQueryResponse>> query)
    {
        ArgumentNullException.ThrowIfNull(query);
        _query = query;
    }

    /// <inheritdoc />
    public Task<SpfDnsAnswer<string>> TxtAsync(string name, CancellationToken cancellationToken) =>
        QueryAsync(name, QueryType.TXT, records => records.OfType<TxtRecord>().Select(r => string.Concat(r.Text)), cancellationToken);

    /// <inheritdoc />
    public Task<SpfDnsAnswer<IPAddress>> AAsync(string name, CancellationToken cancellationToken) =>
        QueryAsync(name, QueryType.A, records => records.OfType<ARecord>().Select(r => r.Address), cancellationToken);

    /// <inheritdoc />
    public Task<SpfDnsAnswer<IPAddress>> AaaaAsync(string name, CancellationToken cancellationToken) =>
        QueryAsync(name, QueryType.AAAA, records => records.OfType<AaaaRecord>().Select(r => r.Address), cancellationToken);

    /// <inheritdoc />
    public Task<SpfDnsAnswer<string>> MxAsync(string name, CancellationToken cancellationToken) =>
        QueryAsync(name, QueryType.MX, records => records.OfType<MxRecord>().Select(r => r.Exchange.Value.TrimEnd('.')), cancellationToken);

    /// <inheritdoc />
    public Task<SpfDnsAnswer<string>> PtrAsync(IPAddress address, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(address);
        return QueryAsync(SpfEvaluator.ReverseName(address), QueryType.PTR,
            records => records.OfType<PtrRecord>().Select(r => r.PtrDomainName.Value.TrimEnd('.')), cancellationToken);
    }

    private async Task<SpfDnsAnswer<T>> QueryAsync<T>(string name, QueryType type, Func<IEnumerable<DnsResourceRecord>, IEnumerable<T>> select,
        CancellationToken cancellationToken)
    {
        IDnsQueryResponse response;
        try
        {
            response = await _query(name, type, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException ex)
        {
            // The caller giving up is not a DNS outcome: it must not turn into a temperror someone might act on.
            cancellationToken.ThrowIfCancellationRequested();
            // Timeouts and transport failures (DnsClient reports them this way even with ThrowDnsErrors off).
            return SpfDnsAnswer.Temporary<T>($"{type} query for {name} failed: {ex.Message}");
        }
        catch (ArgumentException)
        {
            // DnsClient cannot build a query from this name (for instance a macro produced characters DNS names cannot
            // carry): no name like it exists, so nothing can be found.
            return SpfDnsAnswer.Void<T>();
        }

        if (response.HasError)
        {
            return response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain
                ? SpfDnsAnswer.Void<T>()
                : SpfDnsAnswer.Temporary<T>($"{type} query for {name}: {response.ErrorMessage}");
        }

        // A resolver answers a CNAME'd name with the chain and the target's records; only the asked type counts.
        return SpfDnsAnswer.Found<T>(select(response.Answers).ToList());
    }

    /// <summary><c>ip</c> (port 53), <c>ip:port</c> or <c>[ipv6]:port</c>.</summary>
    private static IPEndPoint ParseServer(string server)
    {
        if (IPAddress.TryParse(server, out var address))
        {
            return new IPEndPoint(address, 53);
        }

        if (IPEndPoint.TryParse(server, out var endPoint) && endPoint.Port != 0)
        {
            return endPoint;
        }

        throw new ArgumentException(
            string.Create(CultureInfo.InvariantCulture, $"SPF DNS server '{server}' is not an address or address:port (127.0.0.1:53, [::1]:53)."));
    }
}
