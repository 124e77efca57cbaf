using Elemta.MailAuth.Dmarc;

namespace Elemta.MailAuth.Tests.Dmarc;

/// <summary>DMARC record syntax (RFC 7489 §6.3, §6.4) and the §6.6.3 rules for unusable records.</summary>
public sealed class DmarcRecordTests
{
    [Fact]
    public void TagsLeftOutTakeTheirDefaults()
    {
        Assert.True(DmarcRecord.TryParse("v=DMARC1; p=quarantine", out var record, out var error), error);

        Assert.Equal(DmarcPolicy.Quarantine, record!.Policy);
        Assert.Null(record.SubdomainPolicy);
        Assert.Equal(DmarcAlignmentMode.Relaxed, record.DkimAlignment);
        Assert.Equal(DmarcAlignmentMode.Relaxed, record.SpfAlignment);
        Assert.Equal(100, record.Percent);
        Assert.Equal(["0"], record.FailureOptions);
        Assert.Equal(86400, record.ReportInterval);
        Assert.Empty(record.AggregateReportUris);
        Assert.False(record.PolicyDefaulted);
        Assert.Empty(record.Warnings);
    }

    [Fact]
    public void EveryTagIsReadWithWhitespaceAndCaseAsTheGrammarAllows()
    {
        const string text = "v = DMARC1 ;P=Reject; sp=none;adkim=s; ASPF=s; pct = 25; " +
            "rua=mailto:agg@example.com!10m, mailto:second@example.net; ruf=mailto:fail@example.com; fo=1:d:s; ri=3600; rf=afrf;";
        Assert.True(DmarcRecord.TryParse(text, out var record, out var error), error);

        Assert.Equal(DmarcPolicy.Reject, record!.Policy);
        Assert.Equal(DmarcPolicy.None, record.SubdomainPolicy);
        Assert.Equal(DmarcAlignmentMode.Strict, record.DkimAlignment);
        Assert.Equal(DmarcAlignmentMode.Strict, record.SpfAlignment);
        Assert.Equal(25, record.Percent);
        Assert.Equal(2, record.AggregateReportUris.Count);
        Assert.Equal(new Uri("mailto:agg@example.com"), record.AggregateReportUris[0].Uri);
        Assert.Equal(10L * 1024 * 1024, record.AggregateReportUris[0].MaxBytes);
        Assert.Null(record.AggregateReportUris[1].MaxBytes);
        Assert.Equal(new Uri("mailto:fail@example.com"), Assert.Single(record.FailureReportUris).Uri);
        Assert.Equal(["1", "d", "s"], record.FailureOptions);
        Assert.Equal(3600, record.ReportInterval);
        Assert.Empty(record.Warnings);
    }

    [Fact]
    public void UnknownTagsAreIgnored()
    {
        Assert.True(DmarcRecord.TryParse("v=DMARC1; p=reject; x-future=1; np=quarantine", out var record, out _));
        Assert.Equal(DmarcPolicy.Reject, record!.Policy);
        Assert.Empty(record.Warnings);
    }

    [Theory]
    [InlineData("p=reject; v=DMARC1")]           // v= is not the first tag.
    [InlineData("v=dmarc1; p=reject")]           // The version value is case-sensitive.
    [InlineData("v=DMARC2; p=reject")]
    [InlineData("v=spf1 -all")]
    [InlineData("")]
    public void OnlyATextStartingWithTheVersionTagIsADmarcRecord(string text)
    {
        Assert.False(DmarcRecord.IsDmarcRecord(text));
        Assert.False(DmarcRecord.TryParse(text, out _, out var error));
        Assert.Contains("v=DMARC1", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("v=DMARC1", "no p= tag")]
    [InlineData("v=DMARC1; p=bogus", "p=bogus")]
    [InlineData("v=DMARC1; p=reject; sp=maybe", "sp=maybe")]
    [InlineData("v=DMARC1; p=; rua=not a uri", "p=")]
    public void AnInvalidPolicyWithoutReportAddressMakesTheRecordUnusable(string text, string named)
    {
        Assert.False(DmarcRecord.TryParse(text, out var record, out var error));
        Assert.Null(record);
        Assert.Contains(named, error, StringComparison.Ordinal);
        Assert.Contains("§6.6.3", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("v=DMARC1; rua=mailto:dmarc@example.com")]
    [InlineData("v=DMARC1; p=blocked; rua=mailto:dmarc@example.com")]
    [InlineData("v=DMARC1; p=reject; sp=maybe; rua=mailto:dmarc@example.com")]
    public void AnInvalidPolicyWithAValidReportAddressCountsAsPolicyNone(string text)
    {
        Assert.True(DmarcRecord.TryParse(text, out var record, out var error), error);

        Assert.Equal(DmarcPolicy.None, record!.Policy);
        Assert.Null(record.SubdomainPolicy);
        Assert.True(record.PolicyDefaulted);
        Assert.Equal(new Uri("mailto:dmarc@example.com"), Assert.Single(record.AggregateReportUris).Uri);
        Assert.Contains(record.Warnings, w => w.Contains("p=none", StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("pct=101", "pct=101")]
    [InlineData("pct=-1", "pct=-1")]
    [InlineData("pct=half", "pct=half")]
    [InlineData("adkim=x", "adkim=x")]
    [InlineData("aspf=relaxed", "aspf=relaxed")]
    [InlineData("fo=2", "fo=2")]
    [InlineData("ri=soon", "ri=soon")]
    [InlineData("rua=mailto:a@example.com!12q", "rua")]
    [InlineData("p=none", "duplicate tag p=")]
    public void AnInvalidOptionalValueTakesTheDefaultAndIsNamed(string tag, string named)
    {
        Assert.True(DmarcRecord.TryParse($"v=DMARC1; p=reject; {tag}", out var record, out var error), error);

        Assert.Equal(DmarcPolicy.Reject, record!.Policy);
        Assert.Equal(100, record.Percent);
        Assert.Equal(DmarcAlignmentMode.Relaxed, record.DkimAlignment);
        Assert.Equal(DmarcAlignmentMode.Relaxed, record.SpfAlignment);
        Assert.Equal(["0"], record.FailureOptions);
        Assert.Equal(86400, record.ReportInterval);
        Assert.Contains(record.Warnings, w => w.Contains(named, StringComparison.Ordinal));
    }

    [Theory]
    [InlineData("0", 0)]
    [InlineData("100", 100)]
    [InlineData("7", 7)]
    public void PercentFromZeroToHundred(string value, int expected)
    {
        Assert.True(DmarcRecord.TryParse($"v=DMARC1; p=reject; pct={value}", out var record, out _));
        Assert.Equal(expected, record!.Percent);
        Assert.Empty(record.Warnings);
    }
}
