using MimeKit;

namespace Elemta.MailAuth.Dmarc;

/// <summary>The outcome of looking for the RFC5322.From domain.</summary>
/// <param name="Domain">The domain, lower case; null when there is none to use.</param>
/// <param name="Problem">Why there is none (for a permerror and its log line), or null.</param>
public sealed record DmarcFromDomainResult(string? Domain, string? Problem)
{
    /// <summary>Whether a domain was found.</summary>
    public bool Found => Domain is not null;
}

/// <summary>
/// Finds the RFC5322.From domain DMARC evaluates (RFC 7489 §6.6.1). RFC 5322 allows exactly one From header field;
/// this implementation asks for exactly one, holding one or more mailboxes (groups flattened) that all have the
/// same domain. No From, several From fields, an unparsable one, a mailbox without a domain, or mailboxes in different
/// domains give no domain — the caller reports <see cref="DmarcResultKind.PermError"/> (§6.6.1 lets a receiver
/// reject such a message outright, or apply the strictest policy of the domains; this implementation does neither
/// itself and leaves the choice to the caller).
/// </summary>
public static class DmarcFromDomain
{
    /// <summary>Extracts the domain from the values of the message's From header fields.</summary>
    /// <param name="fromHeaderValues">Each From field's value (unfolded or not), in message order.</param>
    public static DmarcFromDomainResult Extract(IReadOnlyList<string> fromHeaderValues)
    {
        ArgumentNullException.ThrowIfNull(fromHeaderValues);
        if (fromHeaderValues.Count == 0)
        {
            return new(null, "the message has no From header field (RFC 7489 §6.6.1)");
        }

        if (fromHeaderValues.Count > 1)
        {
            return new(null, $"the message has {fromHeaderValues.Count} From header fields; RFC 5322 allows one (RFC 7489 §6.6.1)");
        }

        if (!InternetAddressList.TryParse(fromHeaderValues[0], out var addresses))
        {
            return new(null, "the From header field cannot be parsed as an address list");
        }

        var domains = addresses.Mailboxes.Select(m => m.Domain?.Trim().TrimEnd('.').ToLowerInvariant() ?? string.Empty).ToList();
        if (domains.Count == 0)
        {
            return new(null, "the From header field holds no mailbox");
        }

        if (domains.Any(d => d.Length == 0))
        {
            return new(null, "a mailbox of the From header field has no domain");
        }

        if (domains.Distinct(StringComparer.Ordinal).Skip(1).Any())
        {
            return new(null, $"the From header field holds mailboxes in different domains ({string.Join(", ", domains.Distinct(StringComparer.Ordinal))}) (RFC 7489 §6.6.1)");
        }

        return new(domains[0], null);
    }

    /// <summary>Extracts the domain from a parsed message's From header fields.</summary>
    /// <param name="headers">The message's headers.</param>
    public static DmarcFromDomainResult Extract(HeaderList headers)
    {
        ArgumentNullException.ThrowIfNull(headers);
        return Extract(headers.Where(h => h.Id == HeaderId.From).Select(h => h.Value).ToList());
    }
}
