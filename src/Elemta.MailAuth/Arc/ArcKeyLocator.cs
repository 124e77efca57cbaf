using Elemta.MailAuth.Spf;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Elemta.MailAuth.Arc;

/// <summary>
/// Finds the public key of an ARC-Seal or ARC-Message-Signature (<c>d=</c>, <c>s=</c>) as DKIM does (RFC 6376 §3.6.2):
/// the TXT record at <c>&lt;selector&gt;._domainkey.&lt;domain&gt;</c>, through the same <see cref="ISpfDns"/> the SPF
/// evaluator uses. MimeKit parses the record (<c>k=</c>, <c>p=</c>); the parsed key is kept per record text.
/// </summary>
public sealed class ArcKeyLocator : DkimPublicKeyLocatorBase
{
    /// <summary>How many parsed keys are kept; the cache is emptied when it is full (simpler than LRU, and rare).</summary>
    internal const int KeyCacheSize = 1_000;

    private readonly ISpfDns _dns;
    private int _temporaryFailures;

    // Keys by the record text they were parsed from: BouncyCastle's import of an RSA key tests the modulus for
    // primality (about 14 ms for 2048 bits on this project's machine), which a message with several ARC sets paid per
    // set and per message. The same text always gives the same key; the DNS answer's TTL is the DNS cache's business.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, AsymmetricKeyParameter> _parsed = new(StringComparer.Ordinal);

    /// <summary>Creates the locator.</summary>
    /// <param name="dns">TXT lookups.</param>
    public ArcKeyLocator(ISpfDns dns)
    {
        ArgumentNullException.ThrowIfNull(dns);
        _dns = dns;
    }

    /// <summary>How many parsed keys are cached now (for tests).</summary>
    internal int CachedKeys => _parsed.Count;

    /// <summary>How many lookups of this locator ended in a temporary DNS error, over its lifetime (for metrics).</summary>
    public int TemporaryFailures => Volatile.Read(ref _temporaryFailures);

    /// <inheritdoc />
    public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
        // MimeKit's synchronous verification path; Elemta calls the asynchronous one.
        LocatePublicKeyAsync(methods, domain, selector, cancellationToken).GetAwaiter().GetResult();

    /// <inheritdoc />
    /// <exception cref="ArcKeyException">No usable key record, or the lookup failed.</exception>
    public override async Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector,
        CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(selector);
        // q= lists query methods; dns/txt is the only one defined (RFC 6376 §3.5).
        if (!string.IsNullOrEmpty(methods) && !methods.Split(':').Any(m => m.Trim().Equals("dns/txt", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArcKeyException($"query method q={methods} is not dns/txt", temporary: false);
        }

        var name = $"{selector}._domainkey.{domain}";
        var answer = await _dns.TxtAsync(name, cancellationToken).ConfigureAwait(false);
        switch (answer.Status)
        {
            case SpfDnsStatus.TemporaryError:
                Interlocked.Increment(ref _temporaryFailures);
                throw new ArcKeyException($"TXT query for {name} failed: {answer.Error}", temporary: true);
            case SpfDnsStatus.Void:
                throw new ArcKeyException($"no key record at {name}", temporary: false);
        }

        // RFC 6376 §3.6.2.2 leaves several records undefined; the first one that holds a key is used.
        Exception? last = null;
        foreach (var record in answer.Records)
        {
            try
            {
                if (_parsed.TryGetValue(record, out var known))
                {
                    return known;
                }

                var key = GetPublicKey(record);
                if (_parsed.Count >= KeyCacheSize)
                {
                    _parsed.Clear();
                }

                _parsed[record] = key;
                return key;
            }
            catch (Exception ex) when (ex is FormatException or MimeKit.ParseException or ArgumentException or InvalidCastException)
            {
                last = ex;
            }
        }

        throw new ArcKeyException($"the key record at {name} holds no usable key: {last?.Message}", temporary: false);
    }
}

/// <summary>A key of an ARC header could not be found or used.</summary>
public sealed class ArcKeyException : Exception
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="temporary">Whether a DNS error that may go away caused it.</param>
    public ArcKeyException(string message, bool temporary)
        : base(message) => Temporary = temporary;

    /// <summary>Creates the exception.</summary>
    public ArcKeyException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    public ArcKeyException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What went wrong.</param>
    /// <param name="innerException">The cause.</param>
    public ArcKeyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    /// <summary>Whether a DNS error that may go away caused it.</summary>
    public bool Temporary { get; }
}
