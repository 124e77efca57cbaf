using System.Net;
using DnsClient;
using DnsClient.Protocol;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Elemta.MailAuth.Dkim;

/// <summary>
/// Finds DKIM public keys in DNS: the TXT record at <c>&lt;selector&gt;._domainkey.&lt;domain&gt;</c> (RFC 6376 §3.6.2.2),
/// asked through DnsClient of the configured servers. Found keys are cached for their record's TTL (capped); failures
/// are not cached, so a DNS error clears as soon as DNS recovers.
/// </summary>
/// <remarks>
/// It is also a MimeKit <see cref="IDkimPublicKeyLocator"/>, throwing <see cref="DkimKeyLookupException"/> where there is no key.
/// </remarks>
public sealed class DnsDkimKeyLocator : DkimPublicKeyLocatorBase
{
    private readonly Func<string, QueryType, CancellationToken, Task<IDnsQueryResponse>> _query;
    private readonly TimeProvider _time;
    private readonly int _cacheSize;
    private readonly TimeSpan _maxCacheTime;
    private readonly Lock _gate = new();
    // The found lookups themselves are kept, so a hit hands back the same object without allocating.
    private readonly Dictionary<string, (DkimKeyLookup Found, DateTimeOffset Expires)> _cache = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Creates the locator.</summary>
    /// <param name="options">Name servers, timeouts and the cache bounds.</param>
    /// <param name="time">The clock the cache expires by.</param>
    /// <exception cref="ArgumentException">A server entry is not <c>ip</c> or <c>ip:port</c>, or a timeout, retry count or cache bound is out of range.</exception>
    public DnsDkimKeyLocator(DkimVerificationOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (DkimOptionsValidator.VerificationProblems(options, "Elemta:Dkim:Verification").FirstOrDefault() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        var servers = options.Servers.Select(s => ParseServer(s)!).ToArray();
        var lookup = servers.Length > 0 ? new LookupClientOptions(servers) : new LookupClientOptions();
        // DnsClient's own cache has no size bound; this class keeps found keys itself, by TTL.
        lookup.UseCache = false;
        lookup.Timeout = options.Timeout;
        lookup.Retries = options.Retries;
        lookup.ThrowDnsErrors = false;
        lookup.ContinueOnDnsError = false;
        lookup.ContinueOnEmptyResponse = false;
        var client = new LookupClient(lookup);
        _query = (name, type, ct) => client.QueryAsync(name, type, QueryClass.IN, ct);
        _time = time ?? TimeProvider.System;
        _cacheSize = options.KeyCacheSize;
        _maxCacheTime = options.MaxKeyCacheTime;
    }

    /// <summary>
    /// Creates the locator over a query function that already has its servers, timeouts and answer cache (the
    /// server's shared DNS lookup), so key queries go where every other query goes; found keys are still kept parsed
    /// here, by their TTL.
    /// </summary>
    /// <param name="query">Answers (name, type); DNS errors as answers, transport failures as <see cref="DnsResponseException"/>.</param>
    /// <param name="options">The cache bounds (its servers, timeout and retries are not used).</param>
    /// <param name="time">The clock the cache expires by.</param>
    public DnsDkimKeyLocator(Func<string, QueryType, CancellationToken, Task<IDnsQueryResponse>> query, DkimVerificationOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(options);
        if (DkimOptionsValidator.VerificationProblems(options, "Elemta:Dkim:Verification").FirstOrDefault() is { } problem)
        {
            throw new ArgumentException(problem, nameof(options));
        }

        _query = query;
        _time = time ?? TimeProvider.System;
        _cacheSize = options.KeyCacheSize;
        _maxCacheTime = options.MaxKeyCacheTime;
    }

    /// <summary>Looks up the key of <paramref name="selector"/> at <paramref name="domain"/>, from the cache while its TTL lasts.</summary>
    /// <param name="domain">The signing domain (<c>d=</c>).</param>
    /// <param name="selector">The selector (<c>s=</c>).</param>
    /// <param name="cancellationToken">Cancels the query (an <see cref="OperationCanceledException"/>, never a temporary error).</param>
    public async Task<DkimKeyLookup> LookupAsync(string domain, string selector, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(selector);
        if (TryGetCached(domain, selector) is { } cached)
        {
            return cached;
        }

        var name = KeyName(domain, selector);
        var now = _time.GetUtcNow();
        IDnsQueryResponse response;
        try
        {
            response = await _query(name, QueryType.TXT, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException ex)
        {
            cancellationToken.ThrowIfCancellationRequested();
            return new DkimKeyLookup(DkimKeyLookupStatus.TemporaryError, null, $"key query for {name} failed: {ex.Message}");
        }
        catch (ArgumentException)
        {
            // d= and s= that make no DNS name (RFC 6376 §6.1.1 would have rejected them): no key can exist there.
            return new DkimKeyLookup(DkimKeyLookupStatus.NotFound, null, $"no key: {name} is not a DNS name");
        }

        if (response.HasError)
        {
            return response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain
                ? new DkimKeyLookup(DkimKeyLookupStatus.NotFound, null, $"no key at {name} (NXDOMAIN)")
                : new DkimKeyLookup(DkimKeyLookupStatus.TemporaryError, null, $"key query for {name}: {response.ErrorMessage}");
        }

        var records = response.Answers.OfType<TxtRecord>().ToList();
        if (records.Count == 0)
        {
            return new DkimKeyLookup(DkimKeyLookupStatus.NotFound, null, $"no key at {name} (no TXT record)");
        }

        // Several TXT records at the name: RFC 6376 §6.1.2 lets the verifier pick; the first usable key wins, and the
        // first record's problem is reported when none is usable.
        string? firstError = null;
        foreach (var record in records)
        {
            // A record longer than 255 bytes is several character-strings, glued without separators (§3.6.2.2).
            var text = string.Concat(record.Text);
            try
            {
                var found = new DkimKeyLookup(DkimKeyLookupStatus.Found, DkimPublicKey.Parse(text), null);
                Remember(name, found, TimeSpan.FromSeconds(records.Min(r => r.InitialTimeToLive)), now);
                return found;
            }
            catch (FormatException ex)
            {
                firstError ??= $"{ex.Message} at {name}";
            }
        }

        return new DkimKeyLookup(DkimKeyLookupStatus.Invalid, null, firstError);
    }

    /// <summary>
    /// The key of <paramref name="selector"/> at <paramref name="domain"/> when the cache holds it and its TTL lasts,
    /// else null: the verifier's synchronous path for the common case, without a task per signature.
    /// </summary>
    internal DkimKeyLookup? TryGetCached(string domain, string selector)
    {
        var name = KeyName(domain, selector);
        var now = _time.GetUtcNow();
        lock (_gate)
        {
            if (_cache.TryGetValue(name, out var cached))
            {
                if (cached.Expires > now)
                {
                    return cached.Found;
                }

                _cache.Remove(name);
            }
        }

        return null;
    }

    private static string KeyName(string domain, string selector) => $"{selector}._domainkey.{domain}".TrimEnd('.');

    /// <inheritdoc />
    public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
        LocatePublicKeyAsync(methods, domain, selector, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc />
    public override async Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default)
    {
        var lookup = await LookupAsync(domain, selector, cancellationToken).ConfigureAwait(false);
        return lookup.Key?.Key ?? throw new DkimKeyLookupException(lookup);
    }

    /// <summary><c>ip</c> (port 53), <c>ip:port</c> or <c>[ipv6]:port</c>; null when it is none of these.</summary>
    internal static IPEndPoint? ParseServer(string server)
    {
        if (IPAddress.TryParse(server, out var address))
        {
            return new IPEndPoint(address, 53);
        }

        return IPEndPoint.TryParse(server, out var endPoint) && endPoint.Port != 0 ? endPoint : null;
    }

    private void Remember(string name, DkimKeyLookup found, TimeSpan ttl, DateTimeOffset now)
    {
        if (_cacheSize <= 0 || ttl <= TimeSpan.Zero)
        {
            return;
        }

        var expires = now + (ttl < _maxCacheTime ? ttl : _maxCacheTime);
        lock (_gate)
        {
            if (_cache.Count >= _cacheSize && !_cache.ContainsKey(name))
            {
                // Full: drop what has expired, and if that frees nothing, the entry closest to expiry.
                foreach (var stale in _cache.Where(e => e.Value.Expires <= now).Select(e => e.Key).ToList())
                {
                    _cache.Remove(stale);
                }

                if (_cache.Count >= _cacheSize)
                {
                    _cache.Remove(_cache.MinBy(e => e.Value.Expires).Key);
                }
            }

            _cache[name] = (found, expires);
        }
    }

    /// <summary>The number of keys cached now (for tests and diagnostics).</summary>
    internal int CachedKeys
    {
        get
        {
            lock (_gate)
            {
                return _cache.Count;
            }
        }
    }
}

/// <summary>No key for a signature, as <see cref="DnsDkimKeyLocator"/> tells MimeKit.</summary>
public sealed class DkimKeyLookupException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DkimKeyLookupException() : this(new DkimKeyLookup(DkimKeyLookupStatus.NotFound, null, "no key"))
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    public DkimKeyLookupException(string message) : this(new DkimKeyLookup(DkimKeyLookupStatus.NotFound, null, message))
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">The message.</param>
    /// <param name="innerException">The cause.</param>
    public DkimKeyLookupException(string message, Exception innerException) : base(message, innerException) =>
        Lookup = new DkimKeyLookup(DkimKeyLookupStatus.NotFound, null, message);

    /// <summary>Creates the exception for a failed lookup.</summary>
    /// <param name="lookup">The lookup.</param>
    public DkimKeyLookupException(DkimKeyLookup lookup) : base(lookup?.Error ?? "no key") => Lookup = lookup!;

    /// <summary>What the lookup found.</summary>
    public DkimKeyLookup Lookup { get; }
}
