using System.Net;
using System.Text;

namespace Elemta.MailAuth.Dmarc;

/// <summary>The outcome of one DMARC evaluation (RFC 7489 §6.6).</summary>
public sealed record DmarcResult
{
    /// <summary>pass, fail, none, temperror or permerror.</summary>
    public required DmarcResultKind Kind { get; init; }

    /// <summary>The RFC5322.From domain evaluated (lower case); null for a permerror without one.</summary>
    public string? FromDomain { get; init; }

    /// <summary>Where the policy record was found: the From domain or its organizational domain; null without one.</summary>
    public string? PolicyDomain { get; init; }

    /// <summary>The policy record used, or null.</summary>
    public DmarcRecord? Record { get; init; }

    /// <summary>
    /// The policy that applies to this From domain: <c>sp=</c> (else <c>p=</c>) when the record was found at the
    /// organizational domain of a subdomain, <c>p=</c> otherwise; null without a record.
    /// </summary>
    public DmarcPolicy? AppliedPolicy { get; init; }

    /// <summary>
    /// What the receiver should do: <see cref="DmarcPolicy.None"/> unless the result is fail, then
    /// <see cref="AppliedPolicy"/> after <c>pct=</c> sampling (a message sampled out gets the next weaker policy).
    /// </summary>
    public DmarcPolicy Disposition { get; init; }

    /// <summary>True when the message failed but <c>pct=</c> sampling left it out of the policy (report reason <c>sampled_out</c>).</summary>
    public bool SampledOut { get; init; }

    /// <summary>The <c>d=</c> of the first passing, aligned DKIM signature, or null.</summary>
    public string? AlignedDkimDomain { get; init; }

    /// <summary>Whether a passing DKIM signature is aligned with the From domain.</summary>
    public bool DkimAligned => AlignedDkimDomain is not null;

    /// <summary>Whether SPF passed for a domain aligned with the From domain.</summary>
    public bool SpfAligned { get; init; }

    /// <summary>Why the result is none, temperror or permerror, or notes on the record; null otherwise.</summary>
    public string? Problem { get; init; }

    /// <summary>
    /// The <c>dmarc</c> method of an RFC 8601 Authentication-Results header field, for instance
    /// <c>dmarc=fail (p=reject dis=quarantine) header.from=example.com</c>.
    /// </summary>
    public string ToAuthenticationResults()
    {
        var text = new StringBuilder("dmarc=").Append(Kind.Name());
        if (AppliedPolicy is { } policy)
        {
            text.Append(" (p=").Append(policy.Name()).Append(" dis=").Append(Disposition.Name()).Append(')');
        }

        if (FromDomain is not null)
        {
            text.Append(" header.from=").Append(FromDomain);
        }

        return text.ToString();
    }

    /// <summary>The row an aggregate report (RFC 7489 §7.2, Appendix C) needs about this message.</summary>
    /// <param name="sourceIp">The SMTP client's address.</param>
    /// <param name="input">The input the result was computed from.</param>
    /// <param name="receivedAt">When the message was received.</param>
    /// <param name="envelopeFrom">The RFC5321.MailFrom domain, when there was one.</param>
    public DmarcReportRow ToReportRow(IPAddress sourceIp, DmarcInput input, DateTimeOffset receivedAt, string? envelopeFrom = null)
    {
        ArgumentNullException.ThrowIfNull(sourceIp);
        ArgumentNullException.ThrowIfNull(input);
        return new DmarcReportRow(
            sourceIp,
            FromDomain ?? input.FromDomain,
            envelopeFrom,
            PolicyDomain,
            Disposition,
            DkimAligned,
            SpfAligned,
            SampledOut ? "sampled_out" : null,
            input.Dkim,
            input.Spf,
            receivedAt);
    }
}

/// <summary>
/// One message's line of a DMARC aggregate report (RFC 7489 Appendix C, the <c>record</c> element), for the lead to
/// persist and <see cref="DmarcAggregateReport"/> to write out.
/// </summary>
/// <param name="SourceIp">The SMTP client's address (<c>source_ip</c>).</param>
/// <param name="HeaderFrom">The RFC5322.From domain (<c>header_from</c>).</param>
/// <param name="EnvelopeFrom">The RFC5321.MailFrom domain (<c>envelope_from</c>), or null.</param>
/// <param name="PolicyDomain">The domain whose record was applied (the report's <c>policy_published/domain</c>), or null.</param>
/// <param name="Disposition">The disposition applied (<c>policy_evaluated/disposition</c>).</param>
/// <param name="DkimAligned">DMARC's DKIM verdict (<c>policy_evaluated/dkim</c>: pass when aligned and passing).</param>
/// <param name="SpfAligned">DMARC's SPF verdict (<c>policy_evaluated/spf</c>).</param>
/// <param name="OverrideReason">A <c>PolicyOverrideType</c> (<c>sampled_out</c>, <c>local_policy</c>, <c>forwarded</c>…), or null.</param>
/// <param name="Dkim">The raw DKIM results (<c>auth_results/dkim</c>).</param>
/// <param name="Spf">The raw SPF result (<c>auth_results/spf</c>), or null.</param>
/// <param name="ReceivedAt">When the message arrived (for the report's date range).</param>
public sealed record DmarcReportRow(
    IPAddress SourceIp,
    string HeaderFrom,
    string? EnvelopeFrom,
    string? PolicyDomain,
    DmarcPolicy Disposition,
    bool DkimAligned,
    bool SpfAligned,
    string? OverrideReason,
    IReadOnlyList<DmarcDkimInput> Dkim,
    DmarcSpfInput? Spf,
    DateTimeOffset ReceivedAt);
