using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>
/// The DMARC aggregate-report data (RFC 7489 §7.2) of one policy domain for one UTC day, keyed
/// <c>&lt;policy domain&gt;|&lt;yyyy-MM-dd&gt;</c>: each inbound message evaluated against the domain's record adds one to
/// the count of its row. One activation per key cluster-wide, persisted in grain storage.
/// </summary>
[Alias("elemta.IDmarcReportGrain")]
public interface IDmarcReportGrain : IGrainWithStringKey
{
    /// <summary>Adds counted rows (each front-end counts messages in memory and hands them over every few seconds).</summary>
    /// <param name="policyRecord">The DMARC record as published (its text), kept for the report's <c>policy_published</c>.</param>
    /// <param name="rows">Rows and how many messages had each since the last hand-over.</param>
    [Alias("record")]
    Task RecordAsync(string policyRecord, ImmutableArray<DmarcReportCount> rows);

    /// <summary>Everything recorded for the day: the record last seen and the rows with their counts.</summary>
    [Alias("get")]
    Task<DmarcReportData> GetAsync();
}

/// <summary>One row of an aggregate report: where a message came from and how it was evaluated (RFC 7489 Appendix C).</summary>
/// <param name="SourceIp">The SMTP client's address.</param>
/// <param name="HeaderFrom">The RFC5322.From domain.</param>
/// <param name="EnvelopeFrom">The RFC5321.MailFrom domain, or null.</param>
/// <param name="Disposition">none, quarantine or reject.</param>
/// <param name="DkimAligned">Whether an aligned DKIM signature passed.</param>
/// <param name="SpfAligned">Whether SPF passed for an aligned domain.</param>
/// <param name="OverrideReason">A policy override (<c>sampled_out</c>, …), or null.</param>
/// <param name="Dkim">Each DKIM signature as <c>domain/selector/result</c>, comma-separated (a string, so rows compare by value).</param>
/// <param name="Spf">The SPF result as <c>domain/scope/result</c>, or null.</param>
[GenerateSerializer, Immutable, Alias("elemta.DmarcReportEntry")]
public sealed record DmarcReportEntry(
    [property: Id(0)] string SourceIp,
    [property: Id(1)] string HeaderFrom,
    [property: Id(2)] string? EnvelopeFrom,
    [property: Id(3)] string Disposition,
    [property: Id(4)] bool DkimAligned,
    [property: Id(5)] bool SpfAligned,
    [property: Id(6)] string? OverrideReason,
    [property: Id(7)] string Dkim,
    [property: Id(8)] string? Spf);

/// <summary>A row and how many messages had it.</summary>
/// <param name="Row">The row.</param>
/// <param name="Count">Messages.</param>
[GenerateSerializer, Immutable, Alias("elemta.DmarcReportCount")]
public sealed record DmarcReportCount([property: Id(0)] DmarcReportEntry Row, [property: Id(1)] long Count);

/// <summary>A policy domain's report data for one day.</summary>
/// <param name="PolicyRecord">The DMARC record last seen, or null when nothing was recorded.</param>
/// <param name="Rows">The rows with their counts.</param>
[GenerateSerializer, Immutable, Alias("elemta.DmarcReportData")]
public sealed record DmarcReportData([property: Id(0)] string? PolicyRecord, [property: Id(1)] ImmutableArray<DmarcReportCount> Rows);

/// <summary>The persisted state of a <see cref="IDmarcReportGrain"/>.</summary>
[GenerateSerializer, Alias("elemta.DmarcReportState")]
public sealed class DmarcReportState
{
    /// <summary>The DMARC record last seen.</summary>
    [Id(0)]
    public string? PolicyRecord { get; set; }

    /// <summary>The rows with their counts.</summary>
    [Id(1)]
    public List<DmarcReportCount> Rows { get; set; } = [];
}
