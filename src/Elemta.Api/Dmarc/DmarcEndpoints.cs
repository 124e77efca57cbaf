using System.Globalization;
using System.Text;
using Elemta.Api.Problems;
using Elemta.Api.Validation;
using Elemta.Contracts;
using Elemta.MailAuth.Dmarc;
using Elemta.MailAuth.Spf;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;

namespace Elemta.Api.Dmarc;

/// <summary>
/// <c>/api/dmarc/{domain}/{date}</c>: the DMARC aggregate report (RFC 7489 §7.2, Appendix C XML) of one policy domain
/// for one UTC day, from the rows the mail-authentication plugin recorded for each inbound message.
/// </summary>
internal static class DmarcEndpoints
{
    public static void MapDmarc(this RouteGroupBuilder api)
    {
        api.MapGet("/dmarc/{domain}/{date}", ReportAsync).WithTags("DMARC").WithName("GetDmarcAggregateReport")
            .WithSummary("The DMARC aggregate report (RFC 7489 Appendix C) of a policy domain for a UTC day (yyyy-MM-dd).")
            .Produces(StatusCodes.Status200OK, contentType: "application/xml");
    }

    private static async Task<IResult> ReportAsync(string domain, string date, IGrainFactory grains, HttpContext context, CancellationToken ct)
    {
        if (!RequestValues.TryDomain(domain, out var key))
        {
            return ApiProblems.BadRequest("Not a domain name (letters, digits, hyphens and dots, A-labels for international names).");
        }

        if (!DateOnly.TryParseExact(date, "yyyy-MM-dd", CultureInfo.InvariantCulture, DateTimeStyles.None, out var day))
        {
            return ApiProblems.BadRequest($"'{date}' is not a date in the form yyyy-MM-dd.");
        }

        var data = await grains.GetGrain<IDmarcReportGrain>($"{key}|{day:yyyy-MM-dd}").GetAsync().WaitAsync(ct);
        if (data.Rows.IsDefaultOrEmpty || data.PolicyRecord is null || !DmarcRecord.TryParse(data.PolicyRecord, out var record, out _))
        {
            return TypedResults.Problem(statusCode: StatusCodes.Status404NotFound, title: "No report data",
                detail: $"No inbound message was evaluated against the DMARC policy of {key} on {day:yyyy-MM-dd}.");
        }

        var begin = new DateTimeOffset(day.ToDateTime(TimeOnly.MinValue), TimeSpan.Zero);
        var host = context.Request.Host.Host;
        var metadata = new DmarcReportMetadata(host, $"postmaster@{host}", $"{key}.{day:yyyyMMdd}@{host}", begin, begin.AddDays(1).AddSeconds(-1), key, record!);
        var rows = data.Rows.SelectMany(r => Enumerable.Repeat(ToRow(r.Row, begin), (int)Math.Min(r.Count, int.MaxValue)));
        var xml = DmarcAggregateReport.Create(metadata, rows);
        return TypedResults.Text(xml.Declaration + Environment.NewLine + xml.Root, "application/xml", Encoding.UTF8);
    }

    /// <summary>A stored row as the report writer takes it.</summary>
    private static DmarcReportRow ToRow(DmarcReportEntry entry, DateTimeOffset day)
    {
        var dkim = entry.Dkim.Split(',', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => d.Split('/'))
            .Where(p => p.Length == 3)
            .Select(p => new DmarcDkimInput(p[0], Enum.TryParse<DmarcDkimResult>(p[2], ignoreCase: true, out var r) ? r : DmarcDkimResult.None, p[1].Length == 0 ? null : p[1]))
            .ToList();
        DmarcSpfInput? spf = null;
        if (entry.Spf?.Split('/') is [var domain, var scope, var result])
        {
            spf = new DmarcSpfInput(domain, Enum.TryParse<SpfResultKind>(result, ignoreCase: true, out var kind) ? kind : SpfResultKind.None,
                scope == "helo" ? DmarcSpfScope.Helo : DmarcSpfScope.MailFrom);
        }

        return new DmarcReportRow(System.Net.IPAddress.TryParse(entry.SourceIp, out var ip) ? ip : System.Net.IPAddress.None, entry.HeaderFrom,
            entry.EnvelopeFrom, null, Enum.TryParse<DmarcPolicy>(entry.Disposition, ignoreCase: true, out var disposition) ? disposition : DmarcPolicy.None,
            entry.DkimAligned, entry.SpfAligned, entry.OverrideReason, dkim, spf, day);
    }
}
