using System.Net;
using System.Xml.Linq;
using Elemta.MailAuth.Dmarc;
using Elemta.MailAuth.Spf;
using Elemta.Testing;

namespace Elemta.MailAuth.Tests.Dmarc;

/// <summary>
/// DMARC evaluation over real DNS: <see cref="DnsClientSpfDns"/> asking <see cref="LoopbackDnsServer"/> on 127.0.0.1
/// for the <c>_dmarc</c> records of a small zone, with the organizational domains of the embedded Public Suffix List.
/// </summary>
public sealed class DmarcEvaluatorTests : IAsyncLifetime
{
    private LoopbackDnsServer _dns = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        _dns.AddTxt("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine; rua=mailto:dmarc@example.com");
        _dns.AddTxt("_dmarc.own.example.com", "v=DMARC1; p=none");
        _dns.AddTxt("_dmarc.strict.test", "v=DMARC1; p=reject; adkim=s; aspf=s");
        _dns.AddTxt("_dmarc.nosp.test", "v=DMARC1; p=quarantine");
        _dns.AddTxt("_dmarc.multi.test", "v=DMARC1; p=reject");
        _dns.AddTxt("_dmarc.multi.test", "v=DMARC1; p=none");
        _dns.AddTxt("_dmarc.bad.test", "v=DMARC1; p=bogus");
        _dns.AddTxt("_dmarc.badrua.test", "v=DMARC1; p=bogus; rua=mailto:agg@badrua.test");
        _dns.AddTxt("_dmarc.notfirst.test", "p=reject; v=DMARC1");
        _dns.AddTxt("_dmarc.spfonly.test", "v=spf1 -all");
        _dns.AddTxt("_dmarc.mixed.test", "v=spf1 -all");
        _dns.AddTxt("_dmarc.mixed.test", "v=DMARC1; p=reject");
        _dns.AddTxt("_dmarc.pct0.test", "v=DMARC1; p=reject; pct=0");
        _dns.AddTxt("_dmarc.pct50.test", "v=DMARC1; p=quarantine; pct=50");
        _dns.AddTxt("_dmarc.pct50r.test", "v=DMARC1; p=reject; pct=50");
        _dns.AddTxt("_dmarc.example.co.uk", "v=DMARC1; p=reject");
        _dns.AddTxt("_dmarc.xn--bcher-kva.example", "v=DMARC1; p=reject");
        _dns.AddTxt("_dmarc.long.test", "v=DMARC1; p=reject; rua=" + string.Join(',', Enumerable.Range(1, 12).Select(i => $"mailto:dmarc-aggregate-{i}@reports.long.test")));
        _dns.SetServerFailure("_dmarc.broken.test");
        _dns.SetServerFailure("_dmarc.orgbroken.test");
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _dns.DisposeAsync();

    private DmarcEvaluator Evaluator(Func<int, bool>? sample = null) => new(
        new DnsClientSpfDns(new SpfDnsOptions { Servers = [_dns.EndPoint.ToString()], Timeout = TimeSpan.FromSeconds(4), Retries = 0 }),
        sample: sample ?? (_ => throw new InvalidOperationException("pct sampling was not expected")));

    private static CancellationToken Token() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private static DmarcSpfInput Spf(string domain, SpfResultKind result = SpfResultKind.Pass) => new(domain, result);

    private static DmarcDkimInput Dkim(string domain, DmarcDkimResult result = DmarcDkimResult.Pass) => new(domain, result, "sel");

    /// <summary>Alignment and disposition cases: From domain, SPF (domain:result or "-"), DKIM (domain:result,…), result, disposition.</summary>
    public static TheoryData<string, string, string, DmarcResultKind, DmarcPolicy> Cases => new()
    {
        // Relaxed alignment (the default) at the organizational domain's own record (p=reject).
        { "example.com", "example.com:pass", "", DmarcResultKind.Pass, DmarcPolicy.None },
        { "example.com", "bounce.example.com:pass", "", DmarcResultKind.Pass, DmarcPolicy.None },
        { "example.com", "example.net:pass", "", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "example.com", "example.com:softfail", "", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "example.com", "example.com:neutral", "", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "example.com", "-", "example.com:pass", DmarcResultKind.Pass, DmarcPolicy.None },
        { "example.com", "-", "mail.example.com:pass", DmarcResultKind.Pass, DmarcPolicy.None },
        { "example.com", "-", "EXAMPLE.COM:pass", DmarcResultKind.Pass, DmarcPolicy.None },
        { "example.com", "-", "example.com:fail", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "example.com", "-", "example.com:temperror", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "example.com", "-", "esp.example.net:pass", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "example.com", "example.net:pass", "esp.example.net:pass,example.com:fail", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "example.com", "example.net:pass", "esp.example.net:pass,mail.example.com:pass", DmarcResultKind.Pass, DmarcPolicy.None },
        { "example.com", "-", "", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "example.com", "notexample.com:pass", "", DmarcResultKind.Fail, DmarcPolicy.Reject },
        // A subdomain without its own record: the organizational domain's record, sp= for the disposition.
        { "sub.example.com", "-", "", DmarcResultKind.Fail, DmarcPolicy.Quarantine },
        { "a.b.sub.example.com", "example.net:pass", "", DmarcResultKind.Fail, DmarcPolicy.Quarantine },
        { "sub.example.com", "example.com:pass", "", DmarcResultKind.Pass, DmarcPolicy.None },
        { "sub.example.com", "-", "other.example.com:pass", DmarcResultKind.Pass, DmarcPolicy.None },
        // A subdomain with its own record: that record's p=, not the parent's sp=.
        { "own.example.com", "-", "", DmarcResultKind.Fail, DmarcPolicy.None },
        { "own.example.com", "-", "example.com:pass", DmarcResultKind.Pass, DmarcPolicy.None },
        // Without sp=, subdomains get p=.
        { "a.nosp.test", "-", "", DmarcResultKind.Fail, DmarcPolicy.Quarantine },
        // Strict alignment: identical domains only (case-insensitive).
        { "strict.test", "-", "strict.test:pass", DmarcResultKind.Pass, DmarcPolicy.None },
        { "strict.test", "-", "Strict.TEST:pass", DmarcResultKind.Pass, DmarcPolicy.None },
        { "strict.test", "-", "mail.strict.test:pass", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "strict.test", "strict.test:pass", "", DmarcResultKind.Pass, DmarcPolicy.None },
        { "strict.test", "bounce.strict.test:pass", "", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "mail.strict.test", "-", "strict.test:pass", DmarcResultKind.Fail, DmarcPolicy.Reject },
        // A public suffix of two labels: example.co.uk and other.co.uk are different organizations.
        { "mail.example.co.uk", "example.co.uk:pass", "", DmarcResultKind.Pass, DmarcPolicy.None },
        { "example.co.uk", "other.co.uk:pass", "", DmarcResultKind.Fail, DmarcPolicy.Reject },
        { "example.co.uk", "-", "co.uk:pass", DmarcResultKind.Fail, DmarcPolicy.Reject },
        // IDN: a Unicode From domain is looked up and aligned in its A-label form.
        { "bücher.example", "-", "xn--bcher-kva.example:pass", DmarcResultKind.Pass, DmarcPolicy.None },
        { "bücher.example", "-", "other.example:pass", DmarcResultKind.Fail, DmarcPolicy.Reject },
        // No usable policy: none, whatever SPF and DKIM say.
        { "multi.test", "-", "", DmarcResultKind.None, DmarcPolicy.None },
        { "bad.test", "-", "", DmarcResultKind.None, DmarcPolicy.None },
        { "notfirst.test", "-", "", DmarcResultKind.None, DmarcPolicy.None },
        { "spfonly.test", "-", "", DmarcResultKind.None, DmarcPolicy.None },
        { "nothing.test", "nothing.test:pass", "", DmarcResultKind.None, DmarcPolicy.None },
        { "sub.multi.test", "-", "", DmarcResultKind.None, DmarcPolicy.None },
        // A TXT that is not DMARC beside one that is: the DMARC one counts.
        { "mixed.test", "-", "", DmarcResultKind.Fail, DmarcPolicy.Reject },
        // An invalid p= with a valid rua=: evaluated as p=none (§6.6.3).
        { "badrua.test", "-", "", DmarcResultKind.Fail, DmarcPolicy.None },
        // A record longer than 255 bytes arrives as several character-strings and is read whole.
        { "long.test", "-", "", DmarcResultKind.Fail, DmarcPolicy.Reject },
        // pct=0: never subject to the policy; reject becomes quarantine.
        { "pct0.test", "-", "", DmarcResultKind.Fail, DmarcPolicy.Quarantine },
        { "pct0.test", "pct0.test:pass", "", DmarcResultKind.Pass, DmarcPolicy.None },
        // DNS failure: temperror.
        { "broken.test", "broken.test:pass", "", DmarcResultKind.TempError, DmarcPolicy.None },
        { "sub.orgbroken.test", "-", "", DmarcResultKind.TempError, DmarcPolicy.None },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task AlignmentPolicyAndDisposition(string from, string spf, string dkim, DmarcResultKind expected, DmarcPolicy disposition)
    {
        DmarcSpfInput? spfInput = spf == "-" ? null : Spf(spf.Split(':')[0], Enum.Parse<SpfResultKind>(spf.Split(':')[1], ignoreCase: true));
        var dkimInputs = dkim.Length == 0
            ? []
            : dkim.Split(',').Select(d => Dkim(d.Split(':')[0], Enum.Parse<DmarcDkimResult>(d.Split(':')[1], ignoreCase: true))).ToList();

        var result = await Evaluator().EvaluateAsync(new DmarcInput(from, spfInput, dkimInputs), Token());

        Assert.True(expected == result.Kind, $"{from}: expected {expected}, got {result.Kind} ({result.Problem})");
        Assert.Equal(disposition, result.Disposition);
        Assert.Empty(_dns.Errors);
    }

    [Fact]
    public async Task ASubdomainWithoutARecordFallsBackToTheOrganizationalDomain()
    {
        var discovery = await Evaluator().DiscoverPolicyAsync("a.b.sub.example.com", Token());

        Assert.Equal(DmarcDiscoveryStatus.Found, discovery.Status);
        Assert.Equal("example.com", discovery.PolicyDomain);
        Assert.Equal("example.com", discovery.OrganizationalDomain);
        // §6.6.3: the From domain, then straight to the organizational domain — not every name in between.
        Assert.Equal(["_dmarc.a.b.sub.example.com", "_dmarc.example.com"],
            _dns.Queries.Where(q => q.Type == DnsRecordType.TXT).Select(q => q.Name.TrimEnd('.')).ToList());
    }

    [Fact]
    public async Task SeveralRecordsAtTheFromDomainStopDiscoveryWithoutAskingTheParent()
    {
        var discovery = await Evaluator().DiscoverPolicyAsync("multi.test", Token());

        Assert.Equal(DmarcDiscoveryStatus.NotFound, discovery.Status);
        Assert.Contains("2 DMARC records", discovery.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnUnusableRecordIsNamedInTheProblem()
    {
        var result = await Evaluator().EvaluateAsync(new DmarcInput("bad.test", null, []), Token());

        Assert.Equal(DmarcResultKind.None, result.Kind);
        Assert.Contains("p=bogus", result.Problem, StringComparison.Ordinal);
        Assert.Equal("dmarc=none header.from=bad.test", result.ToAuthenticationResults());
    }

    [Fact]
    public async Task PercentSamplingAppliesThePolicyToTheSelectedShare()
    {
        var asked = new List<int>();
        var selected = await Evaluator(p => { asked.Add(p); return true; }).EvaluateAsync(new DmarcInput("pct50.test", null, []), Token());
        var leftOut = await Evaluator(p => { asked.Add(p); return false; }).EvaluateAsync(new DmarcInput("pct50.test", null, []), Token());
        var rejectLeftOut = await Evaluator(_ => false).EvaluateAsync(new DmarcInput("pct50r.test", null, []), Token());

        Assert.Equal([50, 50], asked);
        Assert.Equal(DmarcPolicy.Quarantine, selected.Disposition);
        Assert.False(selected.SampledOut);
        // §6.3 pct: out of the sample, quarantine becomes none and reject becomes quarantine.
        Assert.Equal(DmarcPolicy.None, leftOut.Disposition);
        Assert.True(leftOut.SampledOut);
        Assert.Equal(DmarcPolicy.Quarantine, rejectLeftOut.Disposition);
        Assert.True(rejectLeftOut.SampledOut);
        Assert.Equal(DmarcResultKind.Fail, leftOut.Kind);
    }

    [Fact]
    public async Task TheDefaultSamplerSelectsAboutTheGivenShare()
    {
        var evaluator = new DmarcEvaluator(
            new DnsClientSpfDns(new SpfDnsOptions { Servers = [_dns.EndPoint.ToString()], Timeout = TimeSpan.FromSeconds(4), Retries = 0 }));
        var quarantined = 0;
        for (var i = 0; i < 200; i++)
        {
            var result = await evaluator.EvaluateAsync(new DmarcInput("pct50.test", null, []), Token());
            quarantined += result.Disposition == DmarcPolicy.Quarantine ? 1 : 0;
        }

        // Binomial(200, 0.5): 60..140 holds with probability 1 − 1e-8.
        Assert.InRange(quarantined, 60, 140);
    }

    [Fact]
    public async Task TheResultCarriesWhatTheSessionAndTheReportsNeed()
    {
        var input = new DmarcInput("sub.example.com", Spf("example.net"), [Dkim("mail.example.com"), Dkim("esp.example.net")]);

        var result = await Evaluator().EvaluateAsync(input, Token());

        Assert.Equal(DmarcResultKind.Pass, result.Kind);
        Assert.Equal("mail.example.com", result.AlignedDkimDomain);
        Assert.True(result.DkimAligned);
        Assert.False(result.SpfAligned);
        Assert.Equal("example.com", result.PolicyDomain);
        Assert.Equal(DmarcPolicy.Quarantine, result.AppliedPolicy);
        Assert.Equal("dmarc=pass (p=quarantine dis=none) header.from=sub.example.com", result.ToAuthenticationResults());

        var row = result.ToReportRow(IPAddress.Parse("192.0.2.10"), input, DateTimeOffset.UnixEpoch, "example.net");
        Assert.Equal("sub.example.com", row.HeaderFrom);
        Assert.Equal("example.com", row.PolicyDomain);
        Assert.True(row.DkimAligned);
        Assert.Equal(2, row.Dkim.Count);
    }

    [Fact]
    public async Task AnAggregateReportGroupsRowsAsAppendixCWritesThem()
    {
        var evaluator = Evaluator(_ => false);
        var at = new DateTimeOffset(2026, 12, 3, 12, 0, 0, TimeSpan.Zero);
        var rows = new List<DmarcReportRow>();
        var passing = new DmarcInput("example.com", Spf("example.com"), [Dkim("example.com")]);
        var failing = new DmarcInput("example.com", Spf("spammer.test", SpfResultKind.Fail), []);
        for (var i = 0; i < 3; i++)
        {
            rows.Add((await evaluator.EvaluateAsync(passing, Token())).ToReportRow(IPAddress.Parse("192.0.2.1"), passing, at, "example.com"));
        }

        rows.Add((await evaluator.EvaluateAsync(failing, Token())).ToReportRow(IPAddress.Parse("198.51.100.7"), failing, at, "spammer.test"));
        var discovery = await evaluator.DiscoverPolicyAsync("example.com", Token());

        var xml = DmarcAggregateReport.Create(
            new DmarcReportMetadata("mx.example.net", "postmaster@example.net", "r-1", at.AddDays(-1), at, "example.com", discovery.Record!),
            rows);

        var feedback = xml.Root!;
        Assert.Equal("feedback", feedback.Name.LocalName);
        Assert.Equal("example.com", feedback.Element("policy_published")!.Element("domain")!.Value);
        Assert.Equal("reject", feedback.Element("policy_published")!.Element("p")!.Value);
        Assert.Equal("quarantine", feedback.Element("policy_published")!.Element("sp")!.Value);
        Assert.Equal(at.ToUnixTimeSeconds().ToString(System.Globalization.CultureInfo.InvariantCulture),
            feedback.Element("report_metadata")!.Element("date_range")!.Element("end")!.Value);
        var records = feedback.Elements("record").ToList();
        Assert.Equal(2, records.Count);
        Assert.Equal("3", records[0].Element("row")!.Element("count")!.Value);
        Assert.Equal("none", records[0].Element("row")!.Element("policy_evaluated")!.Element("disposition")!.Value);
        Assert.Equal("pass", records[0].Element("row")!.Element("policy_evaluated")!.Element("dkim")!.Value);
        Assert.Equal("sel", records[0].Element("auth_results")!.Element("dkim")!.Element("selector")!.Value);
        var failed = records[1];
        Assert.Equal("198.51.100.7", failed.Element("row")!.Element("source_ip")!.Value);
        Assert.Equal("fail", failed.Element("row")!.Element("policy_evaluated")!.Element("spf")!.Value);
        Assert.Equal("reject", failed.Element("row")!.Element("policy_evaluated")!.Element("disposition")!.Value);
        Assert.Equal("fail", failed.Element("auth_results")!.Element("spf")!.Element("result")!.Value);
        Assert.Equal("spammer.test", failed.Element("identifiers")!.Element("envelope_from")!.Value);
        Assert.Throws<ArgumentException>(() => DmarcAggregateReport.Create(
            new DmarcReportMetadata("o", "e@x.test", "r", at, at, "example.com", discovery.Record!), []));
    }
}
