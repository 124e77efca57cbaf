using Elemta.MailAuth.PublicSuffix;
using Elemta.MailAuth.Spf;

namespace Elemta.MailAuth.Dmarc;

/// <summary>How policy discovery ended.</summary>
public enum DmarcDiscoveryStatus
{
    /// <summary>A usable record was found.</summary>
    Found,

    /// <summary>No usable record: none at either name, several, or one without a valid <c>p=</c> and <c>rua=</c>.</summary>
    NotFound,

    /// <summary>A DNS query failed temporarily.</summary>
    TempError,
}

/// <summary>The outcome of DMARC policy discovery (RFC 7489 §6.6.3).</summary>
/// <param name="Status">How discovery ended.</param>
/// <param name="Record">The record, when found.</param>
/// <param name="PolicyDomain">The domain the record was found at, when found.</param>
/// <param name="OrganizationalDomain">The From domain's organizational domain (the From domain itself when it is a public suffix).</param>
/// <param name="Problem">Why nothing usable was found, or the record's warnings; null otherwise.</param>
public sealed record DmarcPolicyDiscovery(
    DmarcDiscoveryStatus Status,
    DmarcRecord? Record,
    string? PolicyDomain,
    string OrganizationalDomain,
    string? Problem);

/// <summary>
/// DMARC (RFC 7489): finds the From domain's policy in DNS (<c>_dmarc.&lt;domain&gt;</c>, then
/// <c>_dmarc.&lt;organizational domain&gt;</c>), checks whether SPF or DKIM passed for an identifier aligned with the
/// From domain (relaxed or strict, §3.1), and turns a failure into a disposition with <c>p=</c>/<c>sp=</c> and
/// <c>pct=</c>. It does not verify SPF or DKIM itself: the caller passes their outcomes in a <see cref="DmarcInput"/>.
/// </summary>
public sealed class DmarcEvaluator
{
    private readonly ISpfDns _dns;
    private readonly PublicSuffixList _suffixes;
    private readonly Func<int, bool> _sample;

    /// <summary>Creates the evaluator.</summary>
    /// <param name="dns">TXT lookups (the SPF abstraction: DMARC needs only TXT, with the same void/temporary-error answers).</param>
    /// <param name="publicSuffixes">The Public Suffix List for organizational domains; the embedded copy when null.</param>
    /// <param name="sample">
    /// <c>pct=</c> sampling for 0 &lt; pct &lt; 100: given the percentage, whether this message is subject to the policy.
    /// Random when null; tests inject a deterministic one. pct=0 and pct=100 never call it.
    /// </param>
    public DmarcEvaluator(ISpfDns dns, PublicSuffixList? publicSuffixes = null, Func<int, bool>? sample = null)
    {
        ArgumentNullException.ThrowIfNull(dns);
        _dns = dns;
        _suffixes = publicSuffixes ?? PublicSuffixList.Default;
        // Sampling is a statistical roll-out aid, not a security decision: a predictable generator is fine.
#pragma warning disable CA5394
        _sample = sample ?? (percent => Random.Shared.Next(100) < percent);
#pragma warning restore CA5394
    }

    /// <summary>The organizational domain (RFC 7489 §3.2) of <paramref name="domain"/>, in ASCII lower case; the domain itself when it is a public suffix.</summary>
    /// <param name="domain">A domain name.</param>
    public string OrganizationalDomain(string domain)
    {
        var ascii = Ascii(domain);
        return _suffixes.GetOrganizationalDomain(ascii) ?? ascii;
    }

    /// <summary>Whether <paramref name="authenticated"/> (an SPF or DKIM domain) is aligned with <paramref name="fromDomain"/> (§3.1).</summary>
    /// <param name="authenticated">The authenticated identifier's domain.</param>
    /// <param name="fromDomain">The RFC5322.From domain.</param>
    /// <param name="mode">Strict: identical; relaxed: the same organizational domain.</param>
    public bool IsAligned(string authenticated, string fromDomain, DmarcAlignmentMode mode)
    {
        ArgumentNullException.ThrowIfNull(authenticated);
        ArgumentNullException.ThrowIfNull(fromDomain);
        var a = Ascii(authenticated);
        var f = Ascii(fromDomain);
        if (a.Length == 0 || f.Length == 0)
        {
            return false;
        }

        return mode == DmarcAlignmentMode.Strict
            ? a == f
            : string.Equals(OrganizationalDomain(a), OrganizationalDomain(f), StringComparison.Ordinal);
    }

    /// <summary>Policy discovery (RFC 7489 §6.6.3) for <paramref name="fromDomain"/>.</summary>
    /// <param name="fromDomain">The RFC5322.From domain.</param>
    /// <param name="cancellationToken">Stops the DNS queries.</param>
    public async Task<DmarcPolicyDiscovery> DiscoverPolicyAsync(string fromDomain, CancellationToken cancellationToken)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(fromDomain);
        var domain = Ascii(fromDomain);
        var organizational = OrganizationalDomain(domain);

        var atDomain = await LookupAsync(domain, cancellationToken).ConfigureAwait(false);
        if (atDomain.Status != LookupStatus.Empty || organizational == domain)
        {
            return Discovery(atDomain, domain, organizational);
        }

        // §6.6.3 step 4: no DMARC record at the From domain itself: ask the organizational domain.
        var atOrganization = await LookupAsync(organizational, cancellationToken).ConfigureAwait(false);
        return Discovery(atOrganization, organizational, organizational);
    }

    /// <summary>Evaluates DMARC for a message whose From domain, SPF and DKIM outcomes are known.</summary>
    /// <param name="input">The From domain and the SPF and DKIM outcomes.</param>
    /// <param name="cancellationToken">Stops the DNS queries.</param>
    public async Task<DmarcResult> EvaluateAsync(DmarcInput input, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(input);
        if (string.IsNullOrWhiteSpace(input.FromDomain))
        {
            return PermError(null, "the RFC5322.From domain is empty (RFC 7489 §6.6.1)");
        }

        var from = Ascii(input.FromDomain);
        var discovery = await DiscoverPolicyAsync(from, cancellationToken).ConfigureAwait(false);
        switch (discovery.Status)
        {
            case DmarcDiscoveryStatus.TempError:
                return new DmarcResult { Kind = DmarcResultKind.TempError, FromDomain = from, Problem = discovery.Problem };
            case DmarcDiscoveryStatus.NotFound:
                return new DmarcResult { Kind = DmarcResultKind.None, FromDomain = from, Problem = discovery.Problem };
        }

        var record = discovery.Record!;
        var dkim = input.Dkim.FirstOrDefault(d => d.Result == DmarcDkimResult.Pass && IsAligned(d.Domain, from, record.DkimAlignment));
        var spfAligned = input.Spf is { Result: SpfResultKind.Pass } spf && IsAligned(spf.Domain, from, record.SpfAlignment);

        // sp= applies only to subdomains of the domain the record was found at (§6.3): a From domain below the
        // organizational domain whose own name has no record.
        var applied = discovery.PolicyDomain != from ? record.SubdomainPolicy ?? record.Policy : record.Policy;
        var result = new DmarcResult
        {
            Kind = dkim is not null || spfAligned ? DmarcResultKind.Pass : DmarcResultKind.Fail,
            FromDomain = from,
            PolicyDomain = discovery.PolicyDomain,
            Record = record,
            AppliedPolicy = applied,
            AlignedDkimDomain = dkim?.Domain.ToLowerInvariant(),
            SpfAligned = spfAligned,
            Problem = discovery.Problem,
        };
        if (result.Kind == DmarcResultKind.Pass)
        {
            return result;
        }

        var selected = record.Percent switch
        {
            >= 100 => true,
            <= 0 => false,
            _ => _sample(record.Percent),
        };
        if (selected)
        {
            return result with { Disposition = applied };
        }

        // §6.3 pct: a message left out of "reject" gets "quarantine"; one left out of "quarantine" gets "none".
        var weaker = applied switch
        {
            DmarcPolicy.Reject => DmarcPolicy.Quarantine,
            _ => DmarcPolicy.None,
        };
        return result with { Disposition = weaker, SampledOut = applied != DmarcPolicy.None };
    }

    /// <summary>A permerror result for a message without a single usable RFC5322.From domain (RFC 7489 §6.6.1).</summary>
    /// <param name="fromDomain">The From domain, when one is known.</param>
    /// <param name="problem">What is wrong with the From header field.</param>
    public static DmarcResult PermError(string? fromDomain, string problem) =>
        new() { Kind = DmarcResultKind.PermError, FromDomain = fromDomain, Problem = problem };

    private static DmarcPolicyDiscovery Discovery(Lookup lookup, string queried, string organizational) => lookup.Status switch
    {
        LookupStatus.Found => new(DmarcDiscoveryStatus.Found, lookup.Record, queried, organizational,
            lookup.Record!.Warnings.Count > 0 ? string.Join("; ", lookup.Record.Warnings) : null),
        LookupStatus.TempError => new(DmarcDiscoveryStatus.TempError, null, null, organizational, lookup.Problem),
        LookupStatus.Empty => new(DmarcDiscoveryStatus.NotFound, null, null, organizational, $"no DMARC record at _dmarc.{queried}"),
        _ => new(DmarcDiscoveryStatus.NotFound, null, null, organizational, lookup.Problem),
    };

    private async Task<Lookup> LookupAsync(string domain, CancellationToken cancellationToken)
    {
        var name = "_dmarc." + domain;
        var answer = await _dns.TxtAsync(name, cancellationToken).ConfigureAwait(false);
        switch (answer.Status)
        {
            case SpfDnsStatus.TemporaryError:
                return new Lookup(LookupStatus.TempError, null, $"TXT query for {name} failed: {answer.Error}");
            case SpfDnsStatus.Void:
                return new Lookup(LookupStatus.Empty, null, null);
        }

        // §6.6.3 step 3: records that do not start with v=DMARC1 are discarded.
        var candidates = answer.Records.Where(DmarcRecord.IsDmarcRecord).ToList();
        if (candidates.Count == 0)
        {
            return new Lookup(LookupStatus.Empty, null, null);
        }

        if (candidates.Count > 1)
        {
            // §6.6.3 step 5: several records end discovery; DMARC does not apply.
            return new Lookup(LookupStatus.Unusable, null, $"{name} has {candidates.Count} DMARC records; DMARC does not apply (RFC 7489 §6.6.3)");
        }

        return DmarcRecord.TryParse(candidates[0], out var record, out var error)
            ? new Lookup(LookupStatus.Found, record, null)
            : new Lookup(LookupStatus.Unusable, null, $"the DMARC record at {name} is unusable: {error}");
    }

    private static string Ascii(string domain)
    {
        var trimmed = domain.Trim().TrimEnd('.');
        return PublicSuffixList.ToAscii(trimmed) ?? trimmed.ToLowerInvariant();
    }

    private enum LookupStatus
    {
        Found,
        Empty,
        Unusable,
        TempError,
    }

    private sealed record Lookup(LookupStatus Status, DmarcRecord? Record, string? Problem);
}
