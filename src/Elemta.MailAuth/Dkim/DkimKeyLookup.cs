namespace Elemta.MailAuth.Dkim;

/// <summary>What a key query found.</summary>
public enum DkimKeyLookupStatus
{
    /// <summary>A usable key record.</summary>
    Found,

    /// <summary>No such name, or no TXT record there that is a DKIM key: a permanent error for the signature.</summary>
    NotFound,

    /// <summary>A record exists but is no usable key (revoked, malformed, unknown type): a permanent error.</summary>
    Invalid,

    /// <summary>The query failed (timeout, SERVFAIL, REFUSED): a temporary error.</summary>
    TemporaryError,
}

/// <summary>The outcome of looking up <c>selector._domainkey.domain</c>.</summary>
/// <param name="Status">What was found.</param>
/// <param name="Key">The key, when <see cref="DkimKeyLookupStatus.Found"/>.</param>
/// <param name="Error">Why there is no key, otherwise.</param>
public sealed record DkimKeyLookup(DkimKeyLookupStatus Status, DkimPublicKey? Key, string? Error);
