using System.Net;
using Elemta.MailAuth.Spf;
using Microsoft.Extensions.Time.Testing;

namespace Elemta.MailAuth.Tests;

/// <summary>The evaluator's behaviour beyond the public suite: RFC 7208 §7.4's macro examples, the HELO identity, limits.</summary>
public sealed class SpfEvaluatorTests
{
    private static readonly IPAddress Ip4 = IPAddress.Parse("192.0.2.3");
    private static readonly IPAddress Ip6 = IPAddress.Parse("2001:db8::cb01");

    /// <summary>RFC 7208 §7.4: sender strong-bad@email.example.com, IPv4 192.0.2.3.</summary>
    [Theory]
    [InlineData("%{s}", "strong-bad@email.example.com")]
    [InlineData("%{o}", "email.example.com")]
    [InlineData("%{d}", "email.example.com")]
    [InlineData("%{d4}", "email.example.com")]
    [InlineData("%{d3}", "email.example.com")]
    [InlineData("%{d2}", "example.com")]
    [InlineData("%{d1}", "com")]
    [InlineData("%{dr}", "com.example.email")]
    [InlineData("%{d2r}", "example.email")]
    [InlineData("%{l}", "strong-bad")]
    [InlineData("%{l-}", "strong.bad")]
    [InlineData("%{lr}", "strong-bad")]
    [InlineData("%{lr-}", "bad.strong")]
    [InlineData("%{l1r-}", "strong")]
    [InlineData("%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com")]
    [InlineData("%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com")]
    [InlineData("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com")]
    [InlineData("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com")]
    [InlineData("%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net")]
    public async Task MacroExamplesOfRfc7208Section74(string macro, string expanded)
    {
        var name = await ExpandedExistsTargetAsync(macro, Ip4);
        Assert.Equal(expanded, name);
    }

    [Fact]
    public async Task IPv6MacroExampleOfRfc7208Section74()
    {
        var name = await ExpandedExistsTargetAsync("%{ir}.%{v}._spf.%{d2}", Ip6);
        // DNS names compare case-insensitively; the nibbles come out in upper case (see SpfEvaluator.DottedAddress).
        Assert.Equal("1.0.b.c." + string.Concat(Enumerable.Repeat("0.", 20)) + "8.b.d.0.1.0.0.2.ip6._spf.example.com", name, ignoreCase: true);
    }

    [Fact]
    public async Task ExplanationOnlyMacrosAndUrlEscapingExpandInExp()
    {
        var dns = new MemoryDns()
            .Txt("email.example.com", "v=spf1 -all exp=why.example.com")
            .Txt("why.example.com", "%{c} at %{t} checked by %{r} for %{S}");
        var clock = new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(1_700_000_000));
        var evaluator = new SpfEvaluator(dns, new SpfEvaluatorOptions { ReceivingDomain = "mx.elemta.test" }, clock);

        var result = await evaluator.CheckMailFromAsync(Ip6, "strong-bad@email.example.com", "helo.example.com", CancellationToken.None);

        Assert.Equal(SpfResultKind.Fail, result.Kind);
        Assert.Equal("2001:db8::cb01 at 1700000000 checked by mx.elemta.test for strong-bad%40email.example.com", result.Explanation);
    }

    [Fact]
    public async Task HeloCheckUsesPostmasterAtTheHeloName()
    {
        var dns = new MemoryDns()
            .Txt("mail.example.com", "v=spf1 exists:%{l}.%{o}.check.example.com -all")
            .A("postmaster.mail.example.com.check.example.com", "127.0.0.2");

        var result = await new SpfEvaluator(dns).CheckHeloAsync(Ip4, "mail.example.com", CancellationToken.None);

        Assert.Equal(SpfResultKind.Pass, result.Kind);
        Assert.Equal("mail.example.com", result.Domain);
    }

    [Fact]
    public async Task NullReversePathIsCheckedAsTheHeloIdentity()
    {
        var dns = new MemoryDns().Txt("mail.example.com", "v=spf1 ip4:192.0.2.0/24 -all");

        var result = await new SpfEvaluator(dns).CheckMailFromAsync(Ip4, string.Empty, "mail.example.com", CancellationToken.None);

        Assert.Equal(SpfResultKind.Pass, result.Kind);
        Assert.Equal("ip4:192.0.2.0/24", result.Mechanism);
    }

    [Fact]
    public async Task IPv4MappedClientMatchesIp4AndExpandsAsIPv4()
    {
        var dns = new MemoryDns().Txt("example.com", "v=spf1 ip4:192.0.2.3 -all exp=x.example.com");

        var result = await new SpfEvaluator(dns).CheckMailFromAsync(IPAddress.Parse("::ffff:192.0.2.3"), "a@example.com", "h.example.com", CancellationToken.None);

        Assert.Equal(SpfResultKind.Pass, result.Kind);
    }

    [Fact]
    public async Task ElevenDnsMechanismsAcrossIncludesArePermErrorBeforeTheEleventhQuery()
    {
        var dns = new MemoryDns()
            .Txt("example.com", "v=spf1 include:a.example.com a a a a a a a a a a ip4:192.0.2.3 -all")
            .Txt("a.example.com", "v=spf1 -all")
            .A("example.com", "198.51.100.1");

        var result = await new SpfEvaluator(dns).CheckMailFromAsync(Ip4, "a@example.com", "h.example.com", CancellationToken.None);

        Assert.Equal(SpfResultKind.PermError, result.Kind);
        Assert.Contains("more than 10", result.Problem, StringComparison.Ordinal);
        // The include's TXT plus nine A lookups: the tenth a mechanism (the eleventh DNS term) never reached DNS.
        Assert.Equal(9, dns.Questions.Count(q => q == "A example.com"));
    }

    [Fact]
    public async Task ThirdVoidLookupIsPermError()
    {
        var dns = new MemoryDns().Txt("example.com", "v=spf1 a:n1.example.com a:n2.example.com a:n3.example.com ip4:192.0.2.3");

        var result = await new SpfEvaluator(dns).CheckMailFromAsync(Ip4, "a@example.com", "h.example.com", CancellationToken.None);

        Assert.Equal(SpfResultKind.PermError, result.Kind);
        Assert.Contains("void", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SyntaxErrorAfterAMatchingMechanismIsStillPermError()
    {
        var dns = new MemoryDns().Txt("example.com", "v=spf1 ip4:192.0.2.3 a:%{z}.example.com");

        var result = await new SpfEvaluator(dns).CheckMailFromAsync(Ip4, "a@example.com", "h.example.com", CancellationToken.None);

        Assert.Equal(SpfResultKind.PermError, result.Kind);
        Assert.Contains("macro letter 'z'", result.Problem, StringComparison.Ordinal);
        Assert.DoesNotContain(dns.Questions, q => q.StartsWith("A ", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DnsFailureInAnAMechanismIsTempError()
    {
        var dns = new MemoryDns().Txt("example.com", "v=spf1 a:down.example.com -all").Fail("down.example.com");

        var result = await new SpfEvaluator(dns).CheckMailFromAsync(Ip4, "a@example.com", "h.example.com", CancellationToken.None);

        Assert.Equal(SpfResultKind.TempError, result.Kind);
    }

    [Fact]
    public async Task AnAbsurdDigitTransformerKeepsEveryPart()
    {
        var name = await ExpandedExistsTargetAsync("%{d99999999999999999999}.example.net", Ip4);
        Assert.Equal("email.example.com.example.net", name);
    }

    /// <summary>Hostile or broken records give permerror, never an exception.</summary>
    [Theory]
    [InlineData("v=spf1 exists:%{")]
    [InlineData("v=spf1 exists:%{d}%")]
    [InlineData("v=spf1 ip4:999.1.1.1")]
    [InlineData("v=spf1 ip6:::1%eth0")]
    [InlineData("v=spf1 a/99999999999999999999")]
    [InlineData("v=spf1 mx//1289")]
    [InlineData("v=spf1 include:%{d0}.example.com")]
    [InlineData("v=spf1 exp=%{c}.example.com -all")]
    [InlineData("v=spf1 -all\t")]
    [InlineData("v=spf1 redirect=a.example.com redirect=b.example.com")]
    public async Task BrokenRecordsArePermError(string record)
    {
        var dns = new MemoryDns().Txt("example.com", record.Replace("\\t", "\t", StringComparison.Ordinal));

        var result = await new SpfEvaluator(dns).CheckMailFromAsync(Ip4, "a@example.com", "h.example.com", CancellationToken.None);

        Assert.Equal(SpfResultKind.PermError, result.Kind);
        Assert.False(string.IsNullOrEmpty(result.Problem));
    }

    /// <summary>Publishes "v=spf1 exists:MACRO -all" for email.example.com and returns the name the exists query asked for.</summary>
    private static async Task<string> ExpandedExistsTargetAsync(string macro, IPAddress ip)
    {
        var dns = new MemoryDns().Txt("email.example.com", $"v=spf1 exists:{macro} -all");
        var result = await new SpfEvaluator(dns).CheckMailFromAsync(ip, "strong-bad@email.example.com", "helo.example.com", CancellationToken.None);
        Assert.Equal(SpfResultKind.Fail, result.Kind);
        var question = Assert.Single(dns.Questions, q => q.StartsWith("A ", StringComparison.Ordinal));
        return question[2..];
    }
}
