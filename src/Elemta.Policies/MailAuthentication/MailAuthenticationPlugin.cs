using System.Net;
using System.Text;
using Elemta.Delivery.Dns;
using Elemta.MailAuth.Arc;
using Elemta.MailAuth.Dkim;
using Elemta.MailAuth.Dmarc;
using Elemta.MailAuth.PublicSuffix;
using Elemta.MailAuth.Spf;
using Elemta.Plugins;
using Microsoft.Extensions.Options;

namespace Elemta.Policies.MailAuthentication;

/// <summary>
/// Inbound mail authentication as a built-in plugin, on by default: SPF (RFC 7208) of the HELO name and the MAIL FROM
/// identity when the client gives MAIL FROM, and at the end of the message one <c>Authentication-Results</c> header
/// (RFC 8601) with this server's authserv-id, after removing any that claim it. Results are also recorded in
/// <see cref="MessageContext.AuthenticationResults"/> for the authentication hooks. DNS goes through the server's
/// cached lookup (<c>Elemta:Dns</c>), so answers are cached with their TTL.
/// </summary>
/// <remarks>Mail from the trusted networks or from authenticated clients is not inbound mail and is not checked (see <see cref="MailAuthenticationOptions.VerifyTrustedClients"/>).</remarks>
public sealed class MailAuthenticationPlugin : IElemtaPlugin, IMailTransactionHooks, IMessageHooks, IAsyncDisposable
{
    /// <summary>The plugin's name (settings under <c>Elemta:Plugins:Items:mail-authentication</c>).</summary>
    public const string PluginName = "mail-authentication";

    /// <summary>The header this plugin writes.</summary>
    public const string HeaderName = "Authentication-Results";

    private const string SpfKey = PluginName + ".spf";
    private readonly MailAuthenticationOptions _options;
    private readonly SpfEvaluator _spf;
    private readonly DmarcEvaluator _dmarc;
    private readonly DkimVerifier _dkim;
    private readonly ArcValidator _arc;
    private readonly DmarcReportCounter? _reports;
    private readonly TimeProvider _time;
    private readonly ArcSealer? _sealer;
    private readonly string? _sealerAuthServId;
    private readonly Lock _sealerGate = new();
    private ArcSealer? _sealerForHost;

    // SPF results by (check, client, identity, HELO): see SpfOptions.ResultCacheTime. Bounded by clearing when full,
    // which is simpler than an LRU and only costs a few re-evaluations once in a while.
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, (SpfResult Result, long Expires)> _spfResults = new(StringComparer.Ordinal);
    private const int SpfResultCacheSize = 10_000;

    /// <summary>Creates the plugin over the server's DNS lookup.</summary>
    /// <param name="dns">The server's cached DNS lookup.</param>
    /// <param name="dkim">DKIM verification (its keys cached by their TTL).</param>
    /// <param name="options">The settings.</param>
    /// <param name="timeProvider">The clock (SPF's %{t} macro).</param>
    /// <param name="grains">Where DMARC report rows are counted (<see cref="Contracts.IDmarcReportGrain"/>); null: not recorded.</param>
    public MailAuthenticationPlugin(DnsLookup dns, DkimVerifier dkim, IOptions<MailAuthenticationOptions> options, TimeProvider timeProvider, IGrainFactory? grains = null)
    {
        _reports = grains is null ? null : new DmarcReportCounter(grains, timeProvider);
        _time = timeProvider;
        ArgumentNullException.ThrowIfNull(dkim);
        _dkim = dkim;
        ArgumentNullException.ThrowIfNull(dns);
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        var lookup = new DnsClientSpfDns(dns.QueryAsync);
        _spf = new SpfEvaluator(lookup, new SpfEvaluatorOptions { ReceivingDomain = _options.AuthServId ?? "unknown" }, timeProvider);
        _dmarc = new DmarcEvaluator(lookup, _options.Dmarc.PublicSuffixFile is { } file ? PublicSuffixList.LoadFile(file) : null);
        _arc = new ArcValidator(new ArcKeyLocator(lookup));
        if (_options.Arc.Seal is { Domain: { } domain, Selector: { } selector, KeyFile: { } keyFile })
        {
            using var key = File.OpenRead(keyFile);
            _sealer = new ArcSealer(new ArcSealerSettings { Domain = domain, Selector = selector, AuthServId = _options.AuthServId ?? "unset" }, key, timeProvider);
            _sealerAuthServId = _options.AuthServId;
        }
    }

    /// <inheritdoc />
    public string Name => PluginName;

    /// <inheritdoc />
    public Version Version { get; } = typeof(MailAuthenticationPlugin).Assembly.GetName().Version ?? new Version(1, 0);

    /// <summary>Inbound mail only, unless trusted clients are verified too: a relay for the organisation's own hosts pays nothing.</summary>
    public PluginScope Scope => _options.VerifyTrustedClients ? PluginScope.All : PluginScope.Inbound;

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnMailFromAsync(SessionInfo session, MailTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(transaction);
        session.Items.Remove(SpfKey);
        if (!_options.Spf.Enabled || !IsInbound(session))
        {
            return HookDecision.Continue;
        }

        var ip = session.Client.Address.IsIPv4MappedToIPv6 ? session.Client.Address.MapToIPv4() : session.Client.Address;
        var helo = session.HeloName ?? string.Empty;
        SpfResult? heloResult = null;
        if (_options.Spf.CheckHelo && IsDomainName(helo))
        {
            heloResult = await CachedAsync($"h|{ip}|{helo}", () => _spf.CheckHeloAsync(ip, helo, cancellationToken)).ConfigureAwait(false);
        }

        // The null sender's MAIL FROM identity is postmaster@<helo> (RFC 7208 §2.4): the HELO check's result.
        var mailFrom = transaction.Sender.Length == 0
            ? heloResult ?? new SpfResult(SpfResultKind.None, helo, Problem: "no usable HELO name for the null sender")
            : await CachedAsync($"m|{ip}|{transaction.Sender}|{helo}", () => _spf.CheckMailFromAsync(ip, transaction.Sender, helo, cancellationToken)).ConfigureAwait(false);
        session.Items[SpfKey] = new SpfChecks(transaction.Sender, helo, heloResult, mailFrom);

        switch (mailFrom.Kind)
        {
            case SpfResultKind.Fail when _options.Spf.FailAction == SpfFailAction.Reject:
                // RFC 7208 §8.4: 550 with the explanation; RFC 7372 §3.2: 5.7.23, SPF validation failed.
                return HookDecision.Reject(OneLine(mailFrom.Explanation ?? $"SPF of {mailFrom.Domain} does not permit {ip}"), 550, "5.7.23");
            case SpfResultKind.TempError when _options.Spf.TempErrorAction == SpfTempErrorAction.Defer:
                // RFC 7208 §8.6: 451 4.4.3.
                return HookDecision.Defer($"SPF check of {mailFrom.Domain} failed temporarily, try again later", 451, "4.4.3");
            default:
                return HookDecision.Continue;
        }
    }

    /// <summary>The sealer, whose authserv-id must be the header's (the server's host name when not configured).</summary>
    private ArcSealer? Sealer(string authServId)
    {
        if (_sealer is null || _sealerAuthServId is not null)
        {
            return _sealer;
        }

        lock (_sealerGate)
        {
            if (_sealerForHost is null && _options.Arc.Seal is { Domain: { } domain, Selector: { } selector, KeyFile: { } keyFile })
            {
                using var key = File.OpenRead(keyFile);
                _sealerForHost = new ArcSealer(new ArcSealerSettings { Domain = domain, Selector = selector, AuthServId = authServId }, key, _time);
            }

            return _sealerForHost;
        }
    }

    /// <summary>
    /// Adds this server's ARC set (RFC 8617 §5.1) over the message as it will be stored: the forged
    /// Authentication-Results removed and this server's on top, as the header changes will leave it. The three new
    /// fields are asked for before the Authentication-Results, so they end up above it.
    /// </summary>
    private static async Task SealAsync(ArcSealer sealer, MessageContext message, string authServId, string header, CancellationToken cancellationToken)
    {
        var bytes = System.Runtime.InteropServices.MemoryMarshal.TryGetArray(message.Content, out var segment) ? segment : new ArraySegment<byte>(message.Content.ToArray());
        MimeKit.MimeMessage parsed;
        using (var stream = new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false))
        {
            parsed = MimeKit.MimeMessage.Load(stream, cancellationToken);
        }

        foreach (var forged in parsed.Headers.Where(h => h.Field.Equals(HeaderName, StringComparison.OrdinalIgnoreCase) && ClaimsId(h.Value, authServId)).ToList())
        {
            parsed.Headers.Remove(forged);
        }

        parsed.Headers.Insert(0, new MimeKit.Header(HeaderName, header));
        var before = parsed.Headers.Count;
        if (!await sealer.SealAsync(parsed, cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        // The sealer put its fields on top: ARC-Seal, ARC-Message-Signature, ARC-Authentication-Results, in that order.
        foreach (var field in parsed.Headers.Take(parsed.Headers.Count - before))
        {
            // Unfolded: relaxed canonicalization (RFC 8617 requires it for ARC-Seal; the sealer uses it for the AMS)
            // reads a field the same with or without its folding.
            var value = Encoding.ASCII.GetString(field.RawValue).Replace("\r\n", string.Empty, StringComparison.Ordinal).Replace("\n", string.Empty, StringComparison.Ordinal).Trim();
            message.AddHeader(field.Field, value);
        }
    }

    /// <summary>An SPF result from the cache, or evaluated and cached (not a temperror: the next message asks again).</summary>
    private async ValueTask<SpfResult> CachedAsync(string key, Func<Task<SpfResult>> evaluate)
    {
        var lifetime = _options.Spf.ResultCacheTime;
        var now = _time.GetTimestamp();
        if (lifetime > TimeSpan.Zero && _spfResults.TryGetValue(key, out var cached) && cached.Expires > now)
        {
            return cached.Result;
        }

        var result = await evaluate().ConfigureAwait(false);
        if (lifetime > TimeSpan.Zero && result.Kind != SpfResultKind.TempError)
        {
            if (_spfResults.Count >= SpfResultCacheSize)
            {
                _spfResults.Clear();
            }

            _spfResults[key] = (result, now + (long)(lifetime.TotalSeconds * _time.TimestampFrequency));
        }

        return result;
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnMessageAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(message);
        if (!IsInbound(session))
        {
            return HookDecision.Continue;
        }

        var authServId = _options.AuthServId ?? session.ServerName;
        // RFC 8601 §5: a header claiming our authserv-id that arrived from outside is a forgery and must go.
        message.RemoveHeader(HeaderName, value => ClaimsId(value, authServId));
        var results = new List<AuthenticationResult>();
        var spf = session.Items.TryGetValue(SpfKey, out var stored) && stored is SpfChecks checks && checks.Sender == message.Sender ? checks : null;
        if (spf is not null)
        {
            results.Add(new AuthenticationResult("spf", spf.MailFrom.Name,
                spf.Sender.Length == 0 ? $"smtp.mailfrom=postmaster@{spf.Helo}" : $"smtp.mailfrom={spf.Sender}"));
            if (spf.HeloResult is { } helo)
            {
                results.Add(new AuthenticationResult("spf", helo.Name, $"smtp.helo={spf.Helo}"));
            }
        }

        // DKIM (RFC 6376) and ARC (RFC 8617) read the stored bytes: only messages that carry signatures pay for it.
        IReadOnlyList<DkimResult> dkim = [];
        if (_options.Dkim.Enabled)
        {
            if (Has(message, "DKIM-Signature"))
            {
                dkim = await _dkim.VerifyAsync(message.Content, cancellationToken).ConfigureAwait(false);
                foreach (var signature in dkim)
                {
                    var text = signature.ToAuthenticationResults();
                    results.Add(new AuthenticationResult("dkim", signature.Keyword, After(text)));
                }
            }
            else
            {
                results.Add(new AuthenticationResult("dkim", "none", null));
            }
        }

        if (_options.Arc.Enabled && Has(message, "ARC-Seal"))
        {
            var arc = await ValidateArcAsync(message.Content, cancellationToken).ConfigureAwait(false);
            results.Add(new AuthenticationResult("arc", arc.Name, After(arc.ToAuthenticationResults())));
        }

        var decision = HookDecision.Continue;
        if (_options.Dmarc.Enabled)
        {
            var dmarc = await EvaluateDmarcAsync(message, spf, dkim, cancellationToken).ConfigureAwait(false);
            results.Add(new AuthenticationResult("dmarc", dmarc.Kind.Name(), After(dmarc.ToAuthenticationResults())));
            RecordForReport(session, message, spf, dkim, dmarc);
            decision = Enforce(dmarc, message);
        }

        foreach (var result in results)
        {
            message.AuthenticationResults.Add(result);
        }

        var header = Compose(authServId, results);
        if (decision.Verdict is HookVerdict.Continue && Sealer(authServId) is { } sealer)
        {
            await SealAsync(sealer, message, authServId, header, cancellationToken).ConfigureAwait(false);
        }

        message.AddHeader(HeaderName, header);
        return decision;
    }

    private Task<DmarcResult> EvaluateDmarcAsync(MessageContext message, SpfChecks? spf, IReadOnlyList<DkimResult> dkim, CancellationToken cancellationToken)
    {
        var from = DmarcFromDomain.Extract([.. message.Headers.Where(h => h.Name.Equals("From", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value)]);
        if (from.Domain is null)
        {
            return Task.FromResult(DmarcEvaluator.PermError(null, from.Problem ?? "no usable From domain"));
        }

        // The SPF-authenticated identifier (RFC 7489 §4.2): the MAIL FROM domain, or the HELO name for the null sender.
        DmarcSpfInput? spfInput = spf is null ? null
            : spf.Sender.Length == 0 ? new DmarcSpfInput(spf.Helo, spf.MailFrom.Kind, DmarcSpfScope.Helo)
            : new DmarcSpfInput(spf.MailFrom.Domain, spf.MailFrom.Kind);
        var signatures = dkim.Where(d => d.Domain is not null).Select(d => new DmarcDkimInput(d.Domain!, d.Kind switch
        {
            DkimResultKind.Pass => DmarcDkimResult.Pass,
            DkimResultKind.Fail => DmarcDkimResult.Fail,
            DkimResultKind.Policy => DmarcDkimResult.Policy,
            DkimResultKind.Neutral => DmarcDkimResult.Neutral,
            DkimResultKind.TempError => DmarcDkimResult.TempError,
            _ => DmarcDkimResult.PermError,
        }, d.Selector)).ToList();
        return _dmarc.EvaluateAsync(new DmarcInput(from.Domain, spfInput, signatures), cancellationToken);
    }

    // The chain is validated over the stored bytes (no MimeKit parse): ArcValidator reads the fields itself.
    private Task<ArcValidation> ValidateArcAsync(ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
        _arc.ValidateAsync(content, cancellationToken);

    private static bool Has(MessageContext message, string name) =>
        message.Headers.Any(h => h.Name.Equals(name, StringComparison.OrdinalIgnoreCase));

    /// <summary>What follows "method=result" in a formatted resinfo: its comment and properties.</summary>
    private static string? After(string resinfo) =>
        resinfo.IndexOf(' ', StringComparison.Ordinal) is var space and > 0 ? resinfo[(space + 1)..] : null;

    /// <summary>
    /// Counts the message in its policy domain's aggregate-report data for today (RFC 7489 §7.2), in memory: the counts
    /// reach the domain's grain every few seconds (DmarcReportCounter), so the 250 waits for no grain call.
    /// </summary>
    private void RecordForReport(SessionInfo session, MessageContext message, SpfChecks? spf, IReadOnlyList<DkimResult> dkim, DmarcResult dmarc)
    {
        if (_reports is null || !_options.Dmarc.RecordReports || dmarc.Record is not { } record || dmarc.PolicyDomain is not { } domain || dmarc.FromDomain is null)
        {
            return;
        }

        var entry = new Contracts.DmarcReportEntry(
            session.Client.Address.ToString(),
            dmarc.FromDomain,
            message.Sender.Length == 0 ? null : message.Sender[(message.Sender.LastIndexOf('@') + 1)..].ToLowerInvariant(),
            dmarc.Disposition.Name(),
            dmarc.DkimAligned,
            dmarc.SpfAligned,
            dmarc.SampledOut ? "sampled_out" : null,
            string.Join(',', dkim.Where(d => d.Domain is not null).Select(d => $"{d.Domain}/{d.Selector}/{d.Keyword}")),
            spf is null ? null : $"{(spf.Sender.Length == 0 ? spf.Helo : spf.MailFrom.Domain)}/{(spf.Sender.Length == 0 ? "helo" : "mfrom")}/{spf.MailFrom.Name}");
        _reports.Count($"{domain}|{_time.GetUtcNow():yyyy-MM-dd}", record, entry);
    }

    /// <summary>Hands the last counted DMARC report rows over.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_reports is not null)
        {
            await _reports.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The disposition enforced (RFC 7489 §6.7): reject refuses, quarantine holds or marks, none accepts.</summary>
    private HookDecision Enforce(DmarcResult dmarc, MessageContext message)
    {
        switch (dmarc.Disposition)
        {
            case DmarcPolicy.Reject when _options.Dmarc.EnforceReject:
                return HookDecision.Reject($"Message refused: the DMARC policy of {dmarc.PolicyDomain ?? dmarc.FromDomain} says reject mail that fails authentication", 550, "5.7.1");
            case DmarcPolicy.Quarantine when _options.Dmarc.QuarantineAction == DmarcQuarantineAction.Hold:
                return HookDecision.Hold($"DMARC quarantine for {dmarc.FromDomain}");
            case DmarcPolicy.Quarantine:
                message.RemoveHeader("X-Spam");
                message.AddHeader("X-Spam", "Yes");
                return HookDecision.Continue;
            default:
                return HookDecision.Continue;
        }
    }

    /// <summary>The header value (RFC 8601 §2.2): the authserv-id, then one resinfo per result, or <c>none</c>.</summary>
    internal static string Compose(string authServId, IReadOnlyList<AuthenticationResult> results)
    {
        var value = new StringBuilder(authServId);
        if (results.Count == 0)
        {
            return value.Append("; none").ToString();
        }

        foreach (var result in results)
        {
            value.Append("; ").Append(result.Method).Append('=').Append(result.Result);
            if (!string.IsNullOrEmpty(result.Detail))
            {
                value.Append(' ').Append(result.Detail);
            }
        }

        return value.ToString();
    }

    /// <summary>Whether an <c>Authentication-Results</c> value starts with <paramref name="authServId"/> (case-insensitively; RFC 8601 §2.5).</summary>
    internal static bool ClaimsId(string value, string authServId)
    {
        var id = value.TrimStart();
        // The authserv-id ends at the first ';', white space or comment.
        var end = id.IndexOfAny([';', ' ', '\t', '(']);
        var claimed = end < 0 ? id : id[..end];
        return string.Equals(claimed.TrimEnd('.'), authServId.TrimEnd('.'), StringComparison.OrdinalIgnoreCase);
    }

    private bool IsInbound(SessionInfo session) =>
        session.AuthenticatedUser is null && (!session.IsTrusted || _options.VerifyTrustedClients);

    /// <summary>A name SPF can check: at least two labels, not an address literal (RFC 7208 §2.3).</summary>
    private static bool IsDomainName(string helo) =>
        helo.Contains('.', StringComparison.Ordinal) && !helo.StartsWith('[') && !IPAddress.TryParse(helo, out _);

    private static string OneLine(string text) => new([.. text.Where(c => !char.IsControl(c))]);

    /// <summary>The SPF results of the transaction, kept in the session between MAIL FROM and the message.</summary>
    private sealed record SpfChecks(string Sender, string Helo, SpfResult? HeloResult, SpfResult MailFrom);
}
