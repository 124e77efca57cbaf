using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Elemta.MailAuth.Spf;

/// <summary>
/// RFC 7208's <c>check_host()</c>: evaluates a domain's SPF policy for a client address. Stateless and thread-safe;
/// every call counts its own DNS lookups.
/// </summary>
/// <remarks>
/// Limits enforced (RFC 7208 §4.6.4): at most 10 mechanisms and modifiers that query DNS (include, a, mx, ptr, exists,
/// redirect) in one evaluation including nested includes and redirects; at most 10 MX names per mx mechanism (more is a
/// permerror) and 10 PTR names per ptr mechanism or %{p} macro (the rest are ignored); at most 2 void lookups (NXDOMAIN
/// or no data) from a, mx and exists. A DNS timeout or server failure is temperror (§5 ¶8), except where the RFC says the
/// mechanism simply does not match (the PTR and its address lookups, §5.5) or the explanation falls back to the default
/// (exp=, §6.2).
/// </remarks>
public sealed class SpfEvaluator
{
    /// <summary>§4.6.4: mechanisms and modifiers that cause DNS queries, per evaluation.</summary>
    public const int MaxDnsMechanisms = 10;

    /// <summary>§4.6.4: void lookups per evaluation.</summary>
    public const int MaxVoidLookups = 2;

    /// <summary>§4.6.4: MX names an mx mechanism may get back; more is a permerror.</summary>
    public const int MaxMxNames = 10;

    /// <summary>§4.6.4: PTR names looked at by ptr and %{p}; the rest are ignored.</summary>
    public const int MaxPtrNames = 10;

    /// <summary>RFC 1035 §2.3.4 / RFC 7208 §7.3: the longest domain name in text form.</summary>
    private const int MaxDomainLength = 253;

    private readonly ISpfDns _dns;
    private readonly SpfEvaluatorOptions _options;
    private readonly TimeProvider _timeProvider;

    /// <summary>Creates an evaluator.</summary>
    /// <param name="dns">Where DNS answers come from.</param>
    /// <param name="options">Default explanation and receiving host name; null for defaults.</param>
    /// <param name="timeProvider">The clock of the %{t} macro; null is the system clock.</param>
    public SpfEvaluator(ISpfDns dns, SpfEvaluatorOptions? options = null, TimeProvider? timeProvider = null)
    {
        ArgumentNullException.ThrowIfNull(dns);
        _dns = dns;
        _options = options ?? new SpfEvaluatorOptions();
        _timeProvider = timeProvider ?? TimeProvider.System;
    }

    /// <summary>
    /// The MAIL FROM check (RFC 7208 §2.4): the policy of the reverse-path's domain, or, for the null reverse-path,
    /// of the HELO name with the sender "postmaster@helo".
    /// </summary>
    /// <param name="ip">The SMTP client's address.</param>
    /// <param name="mailFrom">The reverse-path without angle brackets; empty for &lt;&gt;.</param>
    /// <param name="helo">The HELO/EHLO argument.</param>
    /// <param name="cancellationToken">Cancels the DNS queries.</param>
    public Task<SpfResult> CheckMailFromAsync(IPAddress ip, string mailFrom, string helo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(mailFrom);
        ArgumentNullException.ThrowIfNull(helo);
        if (mailFrom.Length == 0)
        {
            return CheckHeloAsync(ip, helo, cancellationToken);
        }

        var at = mailFrom.LastIndexOf('@');
        var domain = at < 0 ? mailFrom : mailFrom[(at + 1)..];
        return CheckHostAsync(ip, domain, mailFrom, helo, cancellationToken);
    }

    /// <summary>The HELO check (RFC 7208 §2.3): the HELO name's policy, with the sender "postmaster@helo".</summary>
    /// <param name="ip">The SMTP client's address.</param>
    /// <param name="helo">The HELO/EHLO argument; an address literal or a single label gives none (§4.3).</param>
    /// <param name="cancellationToken">Cancels the DNS queries.</param>
    public Task<SpfResult> CheckHeloAsync(IPAddress ip, string helo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(helo);
        return CheckHostAsync(ip, helo, "postmaster@" + helo, helo, cancellationToken);
    }

    /// <summary>
    /// <c>check_host(ip, domain, sender)</c> (RFC 7208 §4). <paramref name="helo"/> feeds the %{h} macro.
    /// </summary>
    /// <param name="ip">The SMTP client's address; an IPv4-mapped IPv6 address counts as IPv4 (§5 ¶9).</param>
    /// <param name="domain">The domain whose policy is evaluated.</param>
    /// <param name="sender">The "MAIL FROM" or "HELO" identity; without a local part, "postmaster" is used (§4.3).</param>
    /// <param name="helo">The HELO/EHLO argument.</param>
    /// <param name="cancellationToken">Cancels the DNS queries.</param>
    public async Task<SpfResult> CheckHostAsync(IPAddress ip, string domain, string sender, string helo, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(ip);
        ArgumentNullException.ThrowIfNull(domain);
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(helo);

        // §5 ¶9 (and RFC 4291 §2.5.5.2): an IPv4-mapped IPv6 client is an IPv4 client for every mechanism and macro.
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        // §4.3: the local-part of an identity without one is "postmaster".
        var at = sender.LastIndexOf('@');
        var localPart = at <= 0 ? "postmaster" : sender[..at];
        var senderDomain = at < 0 ? sender : sender[(at + 1)..];
        var context = new Evaluation(ip, localPart + "@" + senderDomain, localPart, senderDomain, helo, cancellationToken);
        var result = await CheckHostCoreAsync(context, domain, computeExplanation: true).ConfigureAwait(false);
        return result with { Domain = domain };
    }

    /// <summary>One check_host() level; includes and redirects recurse with the same <paramref name="context"/> (shared limits).</summary>
    private async Task<SpfResult> CheckHostCoreAsync(Evaluation context, string domain, bool computeExplanation)
    {
        // §4.3: a malformed or single-label domain gives none before any DNS query.
        if (!IsValidDomain(domain, strict: true))
        {
            return new SpfResult(SpfResultKind.None, domain, Problem: $"'{domain}' is not a valid multi-label domain name (RFC 7208 §4.3)");
        }

        domain = domain.TrimEnd('.');

        // §4.4: TXT only (the SPF RR type is obsolete, RFC 7208 §3.1 and §14.1).
        var txt = await _dns.TxtAsync(domain, context.CancellationToken).ConfigureAwait(false);
        if (txt.Status == SpfDnsStatus.TemporaryError)
        {
            return new SpfResult(SpfResultKind.TempError, domain, Problem: $"TXT lookup of {domain}: {txt.Error} (RFC 7208 §4.4)");
        }

        // §4.5: exactly one record beginning with "v=spf1"; none is none, several is permerror.
        string? text = null;
        foreach (var candidate in txt.Records)
        {
            if (!SpfRecord.IsSpfRecord(candidate))
            {
                continue;
            }

            if (text is not null)
            {
                return new SpfResult(SpfResultKind.PermError, domain, Problem: $"{domain} publishes more than one SPF record (RFC 7208 §4.5)");
            }

            text = candidate;
        }

        if (text is null)
        {
            return new SpfResult(SpfResultKind.None, domain, Problem: $"{domain} publishes no SPF record (RFC 7208 §4.5)");
        }

        // §4.6: the whole record is parsed first; a syntax error anywhere is a permerror.
        if (!SpfRecord.TryParse(text, out var record, out var syntaxError))
        {
            return new SpfResult(SpfResultKind.PermError, domain, Problem: $"{domain}: {syntaxError}");
        }

        // §4.6.2: directives in order; the first match decides.
        foreach (var directive in record!.Directives)
        {
            var outcome = await MatchAsync(context, domain, directive).ConfigureAwait(false);
            if (outcome.Error is { } error)
            {
                return error with { Domain = domain };
            }

            if (!outcome.Matched)
            {
                continue;
            }

            var kind = directive.Qualifier switch
            {
                SpfQualifier.Pass => SpfResultKind.Pass,
                SpfQualifier.Fail => SpfResultKind.Fail,
                SpfQualifier.SoftFail => SpfResultKind.SoftFail,
                _ => SpfResultKind.Neutral,
            };
            var explanation = kind == SpfResultKind.Fail && computeExplanation
                ? await ExplainAsync(context, domain, record.Explanation).ConfigureAwait(false)
                : null;
            return new SpfResult(kind, domain, directive.Text, explanation);
        }

        // §6.1: redirect applies only when no mechanism matched (an "all" anywhere makes it unreachable); the target's
        // result, with the target's own exp=, is the result (§6.2 ¶13: the original exp= does not carry over).
        if (record.Redirect is { } redirect)
        {
            if (++context.DnsMechanisms > MaxDnsMechanisms)
            {
                return TooManyLookups(domain);
            }

            var expanded = await ExpandDomainAsync(context, domain, redirect).ConfigureAwait(false);
            var target = await CheckHostCoreAsync(context, expanded, computeExplanation).ConfigureAwait(false);
            // §6.1: a redirect target without a record (or a malformed one) is a permerror, not none.
            return target.Kind == SpfResultKind.None
                ? new SpfResult(SpfResultKind.PermError, domain, Problem: $"redirect={expanded}: {target.Problem} (RFC 7208 §6.1)")
                : target;
        }

        // §4.7: nothing matched and no redirect: neutral.
        return new SpfResult(SpfResultKind.Neutral, domain, "default");
    }

    private async Task<MatchOutcome> MatchAsync(Evaluation context, string domain, SpfDirective directive)
    {
        var ct = context.CancellationToken;
        switch (directive.Kind)
        {
            case SpfMechanismKind.All:
                return MatchOutcome.Match;

            case SpfMechanismKind.Ip4:
            case SpfMechanismKind.Ip6:
                // §5.6: an ip4 never matches an IPv6 client and vice versa.
                return InNetwork(context.Ip, directive.Network!, directive.Kind == SpfMechanismKind.Ip4 ? directive.Ip4Prefix : directive.Ip6Prefix)
                    ? MatchOutcome.Match
                    : MatchOutcome.NoMatch;
        }

        // Everything else queries DNS and counts against the limit of 10 (§4.6.4).
        if (++context.DnsMechanisms > MaxDnsMechanisms)
        {
            return MatchOutcome.Fail(TooManyLookups(domain));
        }

        var target = directive.Target is null ? domain : await ExpandDomainAsync(context, domain, directive.Target).ConfigureAwait(false);
        switch (directive.Kind)
        {
            case SpfMechanismKind.Include:
            {
                // §5.2: the included policy's pass matches; fail, softfail and neutral do not; temperror propagates; none
                // and permerror are permerror.
                var included = await CheckHostCoreAsync(context, target, computeExplanation: false).ConfigureAwait(false);
                return included.Kind switch
                {
                    SpfResultKind.Pass => MatchOutcome.Match,
                    SpfResultKind.Fail or SpfResultKind.SoftFail or SpfResultKind.Neutral => MatchOutcome.NoMatch,
                    SpfResultKind.TempError => MatchOutcome.Fail(included),
                    _ => MatchOutcome.Fail(new SpfResult(SpfResultKind.PermError, domain,
                        Problem: $"include:{target} gave {included.Name}: {included.Problem} (RFC 7208 §5.2)")),
                };
            }

            case SpfMechanismKind.A:
            case SpfMechanismKind.Exists:
            {
                // A target that cannot be a DNS name (an empty or over-long label, often from a macro) matches nothing:
                // RFC 7208 leaves it undefined (test suite: invalid-domain-*), and no query can be composed from it.
                if (!IsValidDomain(target, strict: false))
                {
                    return MatchOutcome.NoMatch;
                }

                target = target.TrimEnd('.');
                // §5.7: exists always asks for A, whatever the client's address family.
                var answer = directive.Kind == SpfMechanismKind.Exists || context.Ip.AddressFamily == AddressFamily.InterNetwork
                    ? await _dns.AAsync(target, ct).ConfigureAwait(false)
                    : await _dns.AaaaAsync(target, ct).ConfigureAwait(false);
                if (CheckAnswer(context, domain, directive, target, answer.Status, answer.Error) is { } failed)
                {
                    return failed;
                }

                if (directive.Kind == SpfMechanismKind.Exists)
                {
                    return answer.Status == SpfDnsStatus.Records ? MatchOutcome.Match : MatchOutcome.NoMatch;
                }

                return MatchesAny(context.Ip, answer.Records, directive) ? MatchOutcome.Match : MatchOutcome.NoMatch;
            }

            case SpfMechanismKind.Mx:
            {
                if (!IsValidDomain(target, strict: false))
                {
                    return MatchOutcome.NoMatch;
                }

                target = target.TrimEnd('.');
                var mx = await _dns.MxAsync(target, ct).ConfigureAwait(false);
                if (CheckAnswer(context, domain, directive, target, mx.Status, mx.Error) is { } failed)
                {
                    return failed;
                }

                // §4.6.4: more than 10 MX names is a permerror, before any address lookup.
                if (mx.Records.Count > MaxMxNames)
                {
                    return MatchOutcome.Fail(new SpfResult(SpfResultKind.PermError, domain,
                        Problem: $"'{directive.Text}': {target} has {mx.Records.Count} MX names, more than {MaxMxNames} (RFC 7208 §4.6.4)"));
                }

                foreach (var exchange in mx.Records)
                {
                    var host = exchange.TrimEnd('.');
                    // A null MX (RFC 7505, ".") or an unusable name has no addresses to compare.
                    if (!IsValidDomain(host, strict: false))
                    {
                        continue;
                    }

                    var addresses = context.Ip.AddressFamily == AddressFamily.InterNetwork
                        ? await _dns.AAsync(host, ct).ConfigureAwait(false)
                        : await _dns.AaaaAsync(host, ct).ConfigureAwait(false);
                    if (addresses.Status == SpfDnsStatus.TemporaryError)
                    {
                        return MatchOutcome.Fail(new SpfResult(SpfResultKind.TempError, domain,
                            Problem: $"'{directive.Text}': address lookup of {host}: {addresses.Error} (RFC 7208 §5.4)"));
                    }

                    if (MatchesAny(context.Ip, addresses.Records, directive))
                    {
                        return MatchOutcome.Match;
                    }
                }

                return MatchOutcome.NoMatch;
            }

            case SpfMechanismKind.Ptr:
            {
                // §5.5: validated names equal to the target or ending in ".target" match; DNS errors mean no match.
                var targetName = target.TrimEnd('.');
                foreach (var name in await ValidatedNamesAsync(context).ConfigureAwait(false))
                {
                    if (name.Equals(targetName, StringComparison.OrdinalIgnoreCase)
                        || name.EndsWith("." + targetName, StringComparison.OrdinalIgnoreCase))
                    {
                        return MatchOutcome.Match;
                    }
                }

                return MatchOutcome.NoMatch;
            }

            default:
                throw new InvalidOperationException($"Unhandled mechanism {directive.Kind}.");
        }
    }

    /// <summary>
    /// temperror for a DNS error (§5 ¶8), and the void lookup count (§4.6.4); null when evaluation goes on.
    /// </summary>
    private static MatchOutcome? CheckAnswer(Evaluation context, string domain, SpfDirective directive, string target, SpfDnsStatus status, string? error)
    {
        if (status == SpfDnsStatus.TemporaryError)
        {
            return MatchOutcome.Fail(new SpfResult(SpfResultKind.TempError, domain,
                Problem: $"'{directive.Text}': lookup of {target}: {error} (RFC 7208 §5)"));
        }

        if (status == SpfDnsStatus.Void && ++context.VoidLookups > MaxVoidLookups)
        {
            return MatchOutcome.Fail(new SpfResult(SpfResultKind.PermError, domain,
                Problem: $"'{directive.Text}': more than {MaxVoidLookups} void DNS lookups (RFC 7208 §4.6.4)"));
        }

        return null;
    }

    private static SpfResult TooManyLookups(string domain) =>
        new(SpfResultKind.PermError, domain, Problem: $"more than {MaxDnsMechanisms} DNS-querying mechanisms and modifiers (RFC 7208 §4.6.4)");

    /// <summary>
    /// The client's validated domain names (§5.5): up to 10 PTR names whose A/AAAA records include the client's address.
    /// DNS errors on the way mean fewer names, never an error. Cached for the evaluation (ptr and %{p} share it).
    /// </summary>
    private async Task<IReadOnlyList<string>> ValidatedNamesAsync(Evaluation context)
    {
        if (context.ValidatedNames is { } cached)
        {
            return cached;
        }

        var validated = new List<string>();
        var ptr = await _dns.PtrAsync(context.Ip, context.CancellationToken).ConfigureAwait(false);
        foreach (var name in ptr.Records.Take(MaxPtrNames))
        {
            var host = name.TrimEnd('.');
            if (!IsValidDomain(host, strict: false))
            {
                continue;
            }

            var addresses = context.Ip.AddressFamily == AddressFamily.InterNetwork
                ? await _dns.AAsync(host, context.CancellationToken).ConfigureAwait(false)
                : await _dns.AaaaAsync(host, context.CancellationToken).ConfigureAwait(false);
            if (addresses.Records.Any(a => a.Equals(context.Ip)))
            {
                validated.Add(host);
            }
        }

        context.ValidatedNames = validated;
        return validated;
    }

    /// <summary>
    /// §6.2: the explanation of a fail: the TXT record at the expanded exp= domain, itself expanded; the default when
    /// there is no exp=, the lookup fails or finds no or several records, or the text is not a valid explain-string.
    /// </summary>
    private async Task<string> ExplainAsync(Evaluation context, string domain, SpfMacro? exp)
    {
        if (exp is not null)
        {
            var name = await ExpandDomainAsync(context, domain, exp).ConfigureAwait(false);
            if (IsValidDomain(name, strict: false))
            {
                var txt = await _dns.TxtAsync(name.TrimEnd('.'), context.CancellationToken).ConfigureAwait(false);
                if (txt.Status == SpfDnsStatus.Records && txt.Records.Count == 1
                    && SpfMacro.TryParse(txt.Records[0], explanation: true, out var text, out _))
                {
                    return await ExpandAsync(context, domain, text!).ConfigureAwait(false);
                }
            }
        }

        return SpfMacro.TryParse(_options.DefaultExplanation, explanation: true, out var fallback, out _)
            ? await ExpandAsync(context, domain, fallback!).ConfigureAwait(false)
            : _options.DefaultExplanation;
    }

    /// <summary>
    /// Expands a domain-spec and, if the result is longer than 253 characters, drops labels from the left until it
    /// fits (§7.3 last paragraph).
    /// </summary>
    private async Task<string> ExpandDomainAsync(Evaluation context, string domain, SpfMacro spec)
    {
        var expanded = spec.HasExpansions ? await ExpandAsync(context, domain, spec).ConfigureAwait(false) : Literal(spec);
        while (expanded.Length > MaxDomainLength)
        {
            var dot = expanded.IndexOf('.', StringComparison.Ordinal);
            if (dot < 0)
            {
                break;
            }

            expanded = expanded[(dot + 1)..];
        }

        return expanded;
    }

    /// <summary>A macro-string without expansions: its literal pieces (%% %_ %- already decoded).</summary>
    private static string Literal(SpfMacro spec) => string.Concat(spec.Tokens.Select(t => t.Text));

    /// <summary>Expands a macro-string (§7.3).</summary>
    private async Task<string> ExpandAsync(Evaluation context, string domain, SpfMacro macro)
    {
        var builder = new StringBuilder();
        foreach (var token in macro.Tokens)
        {
            if (token.Letter == '\0')
            {
                builder.Append(token.Text);
                continue;
            }

            var value = token.Letter switch
            {
                's' => context.Sender,
                'l' => context.LocalPart,
                'o' => context.SenderDomain,
                'd' => domain,
                'i' => DottedAddress(context.Ip),
                'p' => await ValidatedNameForMacroAsync(context, domain).ConfigureAwait(false),
                'v' => context.Ip.AddressFamily == AddressFamily.InterNetwork ? "in-addr" : "ip6",
                'h' => context.Helo,
                'c' => context.Ip.ToString(),
                'r' => _options.ReceivingDomain,
                't' => _timeProvider.GetUtcNow().ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture),
                _ => throw new InvalidOperationException($"Unhandled macro letter '{token.Letter}'."),
            };
            builder.Append(SpfMacro.Transform(value, token));
        }

        return builder.ToString();
    }

    /// <summary>
    /// %{p} (§7.3): a validated name of the client, preferring the current domain itself, then one of its subdomains,
    /// then any; "unknown" when there is none.
    /// </summary>
    private async Task<string> ValidatedNameForMacroAsync(Evaluation context, string domain)
    {
        var names = await ValidatedNamesAsync(context).ConfigureAwait(false);
        return names.FirstOrDefault(n => n.Equals(domain, StringComparison.OrdinalIgnoreCase))
               ?? names.FirstOrDefault(n => n.EndsWith("." + domain, StringComparison.OrdinalIgnoreCase))
               ?? (names.Count > 0 ? names[0] : "unknown");
    }

    /// <summary>
    /// %{i} (§7.3): IPv4 in dotted decimal; IPv6 as 32 dot-separated nibbles. The nibbles are upper-case hex, as the
    /// RFC 7208 test suite expects (v-macro-ip6); DNS compares names case-insensitively, so lookups do not care.
    /// </summary>
    internal static string DottedAddress(IPAddress ip)
    {
        if (ip.AddressFamily == AddressFamily.InterNetwork)
        {
            return ip.ToString();
        }

        var builder = new StringBuilder(63);
        foreach (var b in ip.GetAddressBytes())
        {
            if (builder.Length > 0)
            {
                builder.Append('.');
            }

            builder.Append("0123456789ABCDEF"[b >> 4]).Append('.').Append("0123456789ABCDEF"[b & 0xF]);
        }

        return builder.ToString();
    }

    /// <summary>The reverse-lookup name of an address (RFC 1035 §3.5 in-addr.arpa, RFC 3596 §2.5 ip6.arpa).</summary>
    /// <param name="ip">The address; an IPv4-mapped IPv6 address gives its IPv4 name.</param>
    public static string ReverseName(IPAddress ip)
    {
        ArgumentNullException.ThrowIfNull(ip);
        if (ip.IsIPv4MappedToIPv6)
        {
            ip = ip.MapToIPv4();
        }

        var parts = DottedAddress(ip).Split('.');
        Array.Reverse(parts);
        return string.Join('.', parts) + (ip.AddressFamily == AddressFamily.InterNetwork ? ".in-addr.arpa" : ".ip6.arpa");
    }

    private static bool MatchesAny(IPAddress ip, IReadOnlyList<IPAddress> addresses, SpfDirective directive)
    {
        var prefix = ip.AddressFamily == AddressFamily.InterNetwork ? directive.Ip4Prefix : directive.Ip6Prefix;
        return addresses.Any(address => InNetwork(ip, address, prefix));
    }

    /// <summary>Whether <paramref name="ip"/> is in <paramref name="network"/>/<paramref name="prefix"/> (same family only).</summary>
    private static bool InNetwork(IPAddress ip, IPAddress network, int prefix)
    {
        if (ip.AddressFamily != network.AddressFamily)
        {
            return false;
        }

        var a = ip.GetAddressBytes();
        var b = network.GetAddressBytes();
        var full = prefix / 8;
        for (var i = 0; i < full; i++)
        {
            if (a[i] != b[i])
            {
                return false;
            }
        }

        var rest = prefix % 8;
        if (rest == 0)
        {
            return true;
        }

        var mask = (byte)(0xFF << (8 - rest));
        return (a[full] & mask) == (b[full] & mask);
    }

    /// <summary>
    /// Whether <paramref name="name"/> (an optional trailing dot aside) can be a DNS name: at most 253 characters, no
    /// empty label, labels of at most 63 characters (RFC 1035 §2.3.4). <paramref name="strict"/> (the &lt;domain&gt; of
    /// check_host(), §4.3) also requires two or more labels and rejects address literals and spaces.
    /// </summary>
    internal static bool IsValidDomain(string name, bool strict)
    {
        if (name.EndsWith('.'))
        {
            name = name[..^1];
        }

        if (name.Length is 0 or > MaxDomainLength)
        {
            return false;
        }

        var labels = name.Split('.');
        if (strict && (labels.Length < 2 || name.AsSpan().IndexOfAny("[]@ \t") >= 0))
        {
            return false;
        }

        return labels.All(label => label.Length is > 0 and <= 63);
    }

    /// <summary>State shared by one evaluation and its includes and redirects.</summary>
    private sealed class Evaluation(IPAddress ip, string sender, string localPart, string senderDomain, string helo, CancellationToken cancellationToken)
    {
        public IPAddress Ip { get; } = ip;

        public string Sender { get; } = sender;

        public string LocalPart { get; } = localPart;

        public string SenderDomain { get; } = senderDomain;

        public string Helo { get; } = helo;

        public CancellationToken CancellationToken { get; } = cancellationToken;

        public int DnsMechanisms { get; set; }

        public int VoidLookups { get; set; }

        public IReadOnlyList<string>? ValidatedNames { get; set; }
    }

    /// <summary>What one mechanism did: matched, did not, or ended the evaluation with an error result.</summary>
    private readonly record struct MatchOutcome(bool Matched, SpfResult? Error)
    {
        public static MatchOutcome Match => new(true, null);

        public static MatchOutcome NoMatch => new(false, null);

        public static MatchOutcome Fail(SpfResult error) => new(false, error);
    }
}
