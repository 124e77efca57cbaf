using System.Net;
using System.Net.Http.Headers;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;
using Elemta.Delivery.Dns;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Tls;

/// <summary>
/// Finds a domain's MTA-STS policy (RFC 8461): the <c>_mta-sts</c> TXT record says a policy exists and names its
/// version (<c>id</c>); the policy itself is fetched over HTTPS from <c>mta-sts.&lt;domain&gt;</c> with a certificate
/// that must verify, and cached for its <c>max_age</c> until the id changes.
/// </summary>
/// <remarks>
/// The HTTPS connection resolves <c>mta-sts.&lt;domain&gt;</c> through <see cref="DnsLookup"/> (the configured name
/// servers and cache), not the system resolver, so every name outbound delivery uses comes from one place. Redirects
/// are not followed and bodies over 64 KiB are refused (RFC 8461 §3.3). A failed fetch keeps using a cached policy
/// that has not expired (§5.1); without one the domain is treated as having no policy.
/// </remarks>
public sealed partial class MtaStsResolver : IDisposable
{
    /// <summary>RFC 8461 §3.3: senders may limit the policy body; 64 KiB is generous for a handful of lines.</summary>
    private const int MaxPolicyBytes = 64 * 1024;

    /// <summary>Policies remembered at most; past it the one expiring soonest is forgotten.</summary>
    private const int MaxCachedPolicies = 10_000;

    private readonly DnsLookup _dns;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<MtaStsResolver> _logger;
    private readonly HttpClient _http;
    private readonly int _httpsPort;
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CachedPolicy> _cache = new(StringComparer.OrdinalIgnoreCase);
    private int _fetches;

    /// <summary>Creates the resolver from <c>Elemta:Delivery</c> (<c>MtaSts</c>, trusted roots, minimum TLS version).</summary>
    public MtaStsResolver(DnsLookup dns, IOptions<DeliveryOptions> options, TimeProvider timeProvider, ILogger<MtaStsResolver> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _dns = dns;
        _timeProvider = timeProvider;
        _logger = logger;
        var delivery = options.Value;
        _httpsPort = delivery.MtaSts.HttpsPort;
        var tls = new OutboundTls(delivery);
        var handler = new SocketsHttpHandler
        {
            AllowAutoRedirect = false,
            UseProxy = false,
            UseCookies = false,
            ConnectTimeout = delivery.ConnectTimeout,
            ConnectCallback = ConnectAsync,
            PooledConnectionLifetime = TimeSpan.FromMinutes(1),
            SslOptions =
            {
                EnabledSslProtocols = tls.Protocols,
                RemoteCertificateValidationCallback = (_, certificate, chain, errors) => tls.Verifies(certificate, chain, errors),
            },
        };
        _http = new HttpClient(handler)
        {
            Timeout = delivery.MtaSts.FetchTimeout,
            MaxResponseContentBufferSize = MaxPolicyBytes,
        };
    }

    /// <summary>HTTPS fetches made so far (for tests: a cached policy costs none).</summary>
    internal int Fetches => Volatile.Read(ref _fetches);

    /// <summary>The policy that applies to <paramref name="domain"/> now, or null when it has none (or none could be had).</summary>
    public async Task<MtaStsPolicy?> GetPolicyAsync(string domain, CancellationToken cancellationToken)
    {
        domain = domain.TrimEnd('.').ToLowerInvariant();
        var now = _timeProvider.GetUtcNow();
        CachedPolicy? cached;
        lock (_gate)
        {
            if (_cache.TryGetValue(domain, out cached) && cached.Expires <= now)
            {
                _cache.Remove(domain);
                cached = null;
            }
        }

        var id = await LookupIdAsync(domain, cancellationToken).ConfigureAwait(false);
        if (id is null || (cached is not null && cached.Id == id))
        {
            // No usable record: a cached policy still holds until it expires (RFC 8461 §5.1), which defeats an
            // attacker who strips the TXT record.
            return cached?.Policy;
        }

        var fetched = await FetchAsync(domain, cancellationToken).ConfigureAwait(false);
        if (fetched is null)
        {
            return cached?.Policy;
        }

        lock (_gate)
        {
            if (_cache.Count >= MaxCachedPolicies && !_cache.ContainsKey(domain))
            {
                var soonest = _cache.MinBy(e => e.Value.Expires).Key;
                _cache.Remove(soonest);
            }

            _cache[domain] = new CachedPolicy(id, fetched, now + fetched.MaxAge);
        }

        return fetched;
    }

    /// <inheritdoc />
    public void Dispose() => _http.Dispose();

    /// <summary>The id of the single valid <c>v=STSv1</c> TXT record at <c>_mta-sts.&lt;domain&gt;</c>, or null.</summary>
    private async Task<string?> LookupIdAsync(string domain, CancellationToken cancellationToken)
    {
        IDnsQueryResponse response;
        try
        {
            response = await _dns.QueryAsync($"_mta-sts.{domain}", QueryType.TXT, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException)
        {
            return null;
        }

        if (response.HasError)
        {
            return null;
        }

        // RFC 8461 §3.1: records not starting with v=STSv1 are ignored; anything but exactly one left means no policy.
        var records = response.Answers.TxtRecords()
            .Select(r => string.Concat(r.Text))
            .Where(t => t.StartsWith("v=STSv1", StringComparison.Ordinal))
            .ToList();
        return records.Count == 1 ? MtaStsPolicy.ParseRecordId(records[0]) : null;
    }

    private async Task<MtaStsPolicy?> FetchAsync(string domain, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _fetches);
        var url = new Uri($"https://mta-sts.{domain}/.well-known/mta-sts.txt");
        try
        {
            using var response = await _http.GetAsync(url, cancellationToken).ConfigureAwait(false);
            if (response.StatusCode != HttpStatusCode.OK)
            {
                LogFetchFailed(domain, $"HTTP {(int)response.StatusCode}");
                return null;
            }

            if (response.Content.Headers.ContentType is not MediaTypeHeaderValue { MediaType: "text/plain" })
            {
                LogFetchFailed(domain, $"media type {response.Content.Headers.ContentType?.MediaType ?? "(none)"}, not text/plain");
                return null;
            }

            var text = await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false);
            if (!MtaStsPolicy.TryParse(text, out var policy, out var error))
            {
                LogFetchFailed(domain, error!);
                return null;
            }

            return policy;
        }
        catch (Exception ex) when (ex is HttpRequestException or IOException or TaskCanceledException or SocketException && !cancellationToken.IsCancellationRequested)
        {
            LogFetchFailed(domain, ex.Message);
            return null;
        }
    }

    /// <summary>Connects the HTTPS fetch to an address of the host found through <see cref="DnsLookup"/>, on <c>MtaSts:HttpsPort</c>.</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext context, CancellationToken cancellationToken)
    {
        var host = context.DnsEndPoint.Host;
        var addresses = new List<IPAddress>();
        if (IPAddress.TryParse(host, out var literal))
        {
            addresses.Add(literal);
        }
        else
        {
            foreach (var type in (QueryType[])[QueryType.A, QueryType.AAAA])
            {
                var answer = await _dns.QueryAsync(host, type, cancellationToken).ConfigureAwait(false);
                if (!answer.HasError)
                {
                    addresses.AddRange(answer.Answers.OfType<AddressRecord>().Select(r => r.Address));
                }
            }
        }

        SocketException? last = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, _httpsPort), cancellationToken).ConfigureAwait(false);
                return new NetworkStream(socket, ownsSocket: true);
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }

        throw new HttpRequestException($"{host} has no reachable address", last);
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "MTA-STS policy of {Domain} could not be fetched: {Reason}")]
    private partial void LogFetchFailed(string domain, string reason);

    private sealed record CachedPolicy(string Id, MtaStsPolicy Policy, DateTimeOffset Expires);
}
