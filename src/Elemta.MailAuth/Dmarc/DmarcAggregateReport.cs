using System.Globalization;
using System.Xml.Linq;
using Elemta.MailAuth.Spf;

namespace Elemta.MailAuth.Dmarc;

/// <summary>Who sends an aggregate report and which period and policy it covers (RFC 7489 §7.2.1, Appendix C).</summary>
/// <param name="OrgName">The reporting organization (<c>org_name</c>).</param>
/// <param name="Email">Its contact address (<c>email</c>).</param>
/// <param name="ReportId">A unique id for this report (<c>report_id</c>).</param>
/// <param name="Begin">The start of the period covered.</param>
/// <param name="End">The end of the period covered.</param>
/// <param name="PolicyDomain">The domain whose policy the rows were evaluated against (<c>policy_published/domain</c>).</param>
/// <param name="Policy">The record as published (<c>policy_published</c>).</param>
public sealed record DmarcReportMetadata(
    string OrgName,
    string Email,
    string ReportId,
    DateTimeOffset Begin,
    DateTimeOffset End,
    string PolicyDomain,
    DmarcRecord Policy);

/// <summary>
/// Writes a DMARC aggregate report (RFC 7489 §7.2, the XML of Appendix C) from stored <see cref="DmarcReportRow"/>s:
/// rows with the same source, identifiers, evaluation and authentication results become one <c>record</c> with
/// their <c>count</c>. Sending it (mailto: rua, §7.2.1.1) is the caller's job.
/// </summary>
public static class DmarcAggregateReport
{
    /// <summary>Builds the report.</summary>
    /// <param name="metadata">Reporter, period and published policy.</param>
    /// <param name="rows">The messages' rows for that policy domain and period.</param>
    /// <exception cref="ArgumentException">No row: RFC 7489 requires at least one record.</exception>
    public static XDocument Create(DmarcReportMetadata metadata, IEnumerable<DmarcReportRow> rows)
    {
        ArgumentNullException.ThrowIfNull(metadata);
        ArgumentNullException.ThrowIfNull(rows);
        var groups = rows.GroupBy(Key).ToList();
        if (groups.Count == 0)
        {
            throw new ArgumentException("An aggregate report needs at least one row (RFC 7489 Appendix C: record maxOccurs unbounded, minOccurs 1).", nameof(rows));
        }

        var policy = metadata.Policy;
        var feedback = new XElement("feedback",
            new XElement("version", "1.0"),
            new XElement("report_metadata",
                new XElement("org_name", metadata.OrgName),
                new XElement("email", metadata.Email),
                new XElement("report_id", metadata.ReportId),
                new XElement("date_range",
                    new XElement("begin", metadata.Begin.ToUnixTimeSeconds()),
                    new XElement("end", metadata.End.ToUnixTimeSeconds()))),
            new XElement("policy_published",
                new XElement("domain", metadata.PolicyDomain),
                new XElement("adkim", policy.DkimAlignment.Name()),
                new XElement("aspf", policy.SpfAlignment.Name()),
                new XElement("p", policy.Policy.Name()),
                new XElement("sp", (policy.SubdomainPolicy ?? policy.Policy).Name()),
                new XElement("pct", policy.Percent),
                new XElement("fo", string.Join(':', policy.FailureOptions))));

        foreach (var group in groups)
        {
            var row = group.First();
            var evaluated = new XElement("policy_evaluated",
                new XElement("disposition", row.Disposition.Name()),
                new XElement("dkim", row.DkimAligned ? "pass" : "fail"),
                new XElement("spf", row.SpfAligned ? "pass" : "fail"));
            if (row.OverrideReason is not null)
            {
                evaluated.Add(new XElement("reason", new XElement("type", row.OverrideReason)));
            }

            var auth = new XElement("auth_results");
            foreach (var dkim in row.Dkim)
            {
                var element = new XElement("dkim", new XElement("domain", dkim.Domain));
                if (dkim.Selector is not null)
                {
                    element.Add(new XElement("selector", dkim.Selector));
                }

                element.Add(new XElement("result", DkimName(dkim.Result)));
                auth.Add(element);
            }

            // The schema requires one spf element; without an SPF check it says none.
            auth.Add(new XElement("spf",
                new XElement("domain", row.Spf?.Domain ?? string.Empty),
                new XElement("scope", row.Spf?.Scope == DmarcSpfScope.Helo ? "helo" : "mfrom"),
                new XElement("result", row.Spf is null ? "none" : SpfName(row.Spf.Result))));

            feedback.Add(new XElement("record",
                new XElement("row",
                    new XElement("source_ip", row.SourceIp.ToString()),
                    new XElement("count", group.Count().ToString(CultureInfo.InvariantCulture)),
                    evaluated),
                new XElement("identifiers",
                    new XElement("envelope_from", row.EnvelopeFrom ?? string.Empty),
                    new XElement("header_from", row.HeaderFrom)),
                auth));
        }

        return new XDocument(new XDeclaration("1.0", "UTF-8", null), feedback);
    }

    private static string Key(DmarcReportRow row) => string.Join('|',
        row.SourceIp, row.HeaderFrom, row.EnvelopeFrom, row.Disposition, row.DkimAligned, row.SpfAligned, row.OverrideReason,
        string.Join(',', row.Dkim.Select(d => $"{d.Domain}/{d.Selector}/{d.Result}")),
        row.Spf is null ? "-" : $"{row.Spf.Domain}/{row.Spf.Scope}/{row.Spf.Result}");

    private static string DkimName(DmarcDkimResult result) => result switch
    {
        DmarcDkimResult.None => "none",
        DmarcDkimResult.Pass => "pass",
        DmarcDkimResult.Fail => "fail",
        DmarcDkimResult.Policy => "policy",
        DmarcDkimResult.Neutral => "neutral",
        DmarcDkimResult.TempError => "temperror",
        DmarcDkimResult.PermError => "permerror",
        _ => "none",
    };

    private static string SpfName(SpfResultKind result) => new SpfResult(result, string.Empty).Name;
}
