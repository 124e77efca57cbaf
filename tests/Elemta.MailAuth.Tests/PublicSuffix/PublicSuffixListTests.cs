using Elemta.MailAuth.PublicSuffix;

namespace Elemta.MailAuth.Tests.PublicSuffix;

/// <summary>
/// The Public Suffix List's own test cases (publicsuffix.org tests/test_psl.txt, <c>checkPublicSuffix(domain,
/// registrable)</c>, public domain) against the copy embedded in Elemta.MailAuth. The list shipped is Debian's
/// 2023-02-09 release, which still has <c>*.mm</c>; the upstream test file later moved its "TLD with only 1 (wildcard)
/// rule" cases from <c>mm</c> to <c>cy</c> when the registry changed, so this data uses the <c>mm</c> cases that match the
/// shipped list.
/// </summary>
public sealed class PublicSuffixListTests
{
    public static TheoryData<string?, string?> CheckPublicSuffix => new()
    {
        // null input.
        { null, null },
        // Mixed case.
        { "COM", null },
        { "example.COM", "example.com" },
        { "WwW.example.COM", "example.com" },
        // Leading dot.
        { ".com", null },
        { ".example", null },
        { ".example.com", null },
        { ".example.example", null },
        // Unlisted TLD.
        { "example", null },
        { "example.example", "example.example" },
        { "b.example.example", "example.example" },
        { "a.b.example.example", "example.example" },
        // TLD with only 1 rule.
        { "biz", null },
        { "domain.biz", "domain.biz" },
        { "b.domain.biz", "domain.biz" },
        { "a.b.domain.biz", "domain.biz" },
        // TLD with some 2-level rules (uk.com is in the private section).
        { "com", null },
        { "example.com", "example.com" },
        { "b.example.com", "example.com" },
        { "a.b.example.com", "example.com" },
        { "uk.com", null },
        { "example.uk.com", "example.uk.com" },
        { "b.example.uk.com", "example.uk.com" },
        { "a.b.example.uk.com", "example.uk.com" },
        { "test.ac", "test.ac" },
        // TLD with only 1 (wildcard) rule.
        { "mm", null },
        { "c.mm", null },
        { "b.c.mm", "b.c.mm" },
        { "a.b.c.mm", "b.c.mm" },
        // More complex TLD.
        { "jp", null },
        { "test.jp", "test.jp" },
        { "www.test.jp", "test.jp" },
        { "ac.jp", null },
        { "test.ac.jp", "test.ac.jp" },
        { "www.test.ac.jp", "test.ac.jp" },
        { "kyoto.jp", null },
        { "test.kyoto.jp", "test.kyoto.jp" },
        { "ide.kyoto.jp", null },
        { "b.ide.kyoto.jp", "b.ide.kyoto.jp" },
        { "a.b.ide.kyoto.jp", "b.ide.kyoto.jp" },
        { "c.kobe.jp", null },
        { "b.c.kobe.jp", "b.c.kobe.jp" },
        { "a.b.c.kobe.jp", "b.c.kobe.jp" },
        { "city.kobe.jp", "city.kobe.jp" },
        { "www.city.kobe.jp", "city.kobe.jp" },
        // TLD with a wildcard rule and exceptions.
        { "ck", null },
        { "test.ck", null },
        { "b.test.ck", "b.test.ck" },
        { "a.b.test.ck", "b.test.ck" },
        { "www.ck", "www.ck" },
        { "www.www.ck", "www.ck" },
        // US K12.
        { "us", null },
        { "test.us", "test.us" },
        { "www.test.us", "test.us" },
        { "ak.us", null },
        { "test.ak.us", "test.ak.us" },
        { "www.test.ak.us", "test.ak.us" },
        { "k12.ak.us", null },
        { "test.k12.ak.us", "test.k12.ak.us" },
        { "www.test.k12.ak.us", "test.k12.ak.us" },
        // IDN labels.
        { "食狮.com.cn", "食狮.com.cn" },
        { "食狮.公司.cn", "食狮.公司.cn" },
        { "www.食狮.公司.cn", "食狮.公司.cn" },
        { "shishi.公司.cn", "shishi.公司.cn" },
        { "公司.cn", null },
        { "食狮.中国", "食狮.中国" },
        { "www.食狮.中国", "食狮.中国" },
        { "shishi.中国", "shishi.中国" },
        { "中国", null },
        // Same as above, but punycoded.
        { "xn--85x722f.com.cn", "xn--85x722f.com.cn" },
        { "xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
        { "www.xn--85x722f.xn--55qx5d.cn", "xn--85x722f.xn--55qx5d.cn" },
        { "shishi.xn--55qx5d.cn", "shishi.xn--55qx5d.cn" },
        { "xn--55qx5d.cn", null },
        { "xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s" },
        { "www.xn--85x722f.xn--fiqs8s", "xn--85x722f.xn--fiqs8s" },
        { "shishi.xn--fiqs8s", "shishi.xn--fiqs8s" },
        { "xn--fiqs8s", null },
    };

    [Theory]
    [MemberData(nameof(CheckPublicSuffix))]
    public void TheListsOwnTestCasesGiveTheRegistrableDomain(string? domain, string? expected) =>
        Assert.Equal(expected, PublicSuffixList.Default.GetOrganizationalDomain(domain));

    [Fact]
    public void TheShippedCopyLoadsWithBothSections()
    {
        var list = PublicSuffixList.Default;

        // Debian's 2023-02-09 list has 7,380 ICANN and 2,126 private rules; a truncated resource would not reach these.
        Assert.True(list.RuleCount > 9000, $"only {list.RuleCount} rules");
        Assert.True(list.PrivateRuleCount > 1000, $"only {list.PrivateRuleCount} private rules");
        Assert.Same(list, PublicSuffixList.Default);
    }

    [Fact]
    public void TheShippedCopyIsDebiansList()
    {
        const string debian = "/usr/share/publicsuffix/public_suffix_list.dat";
        if (!File.Exists(debian))
        {
            // The embedded copy is what matters; this only checks it against the package when the package is present.
            return;
        }

        var fromPackage = PublicSuffixList.LoadFile(debian);
        Assert.Equal(fromPackage.RuleCount, PublicSuffixList.Default.RuleCount);
    }

    [Fact]
    public void PrivateRulesCanBeLeftOut()
    {
        var list = PublicSuffixList.Default;

        Assert.Equal("example.uk.com", list.GetOrganizationalDomain("a.example.uk.com"));
        Assert.Equal("uk.com", list.GetOrganizationalDomain("a.example.uk.com", includePrivate: false));
        Assert.Equal("uk.com", list.GetPublicSuffix("example.uk.com"));
        Assert.Equal("com", list.GetPublicSuffix("example.uk.com", includePrivate: false));
    }

    [Fact]
    public void PublicSuffixAndTrailingDot()
    {
        var list = PublicSuffixList.Default;

        Assert.Equal("co.uk", list.GetPublicSuffix("mail.example.co.uk."));
        Assert.Equal("example.co.uk", list.GetOrganizationalDomain("mail.example.co.uk."));
        Assert.True(list.IsPublicSuffix("co.uk"));
        Assert.False(list.IsPublicSuffix("example.co.uk"));
        // An unlisted TLD: the implicit "*" rule makes the last label the suffix.
        Assert.Equal("test", list.GetPublicSuffix("a.b.test"));
    }

    [Fact]
    public void AnOverrideFileIsReadAndABadRuleIsNamed()
    {
        var path = Path.Combine(Path.GetTempPath(), $"psl-{Guid.NewGuid():N}.dat");
        try
        {
            File.WriteAllText(path, "// ===BEGIN ICANN DOMAINS===\ntest\n*.wild.test\n!keep.wild.test\n// ===END ICANN DOMAINS===\n");
            var list = PublicSuffixList.LoadFile(path);
            Assert.Equal("a.test", list.GetOrganizationalDomain("x.a.test"));
            Assert.Equal("b.x.wild.test", list.GetOrganizationalDomain("a.b.x.wild.test"));
            Assert.Equal("keep.wild.test", list.GetOrganizationalDomain("a.keep.wild.test"));

            File.WriteAllText(path, "// only a comment\n");
            Assert.Throws<FormatException>(() => PublicSuffixList.LoadFile(path));
            File.WriteAllText(path, "bad..rule\n");
            var error = Assert.Throws<FormatException>(() => PublicSuffixList.LoadFile(path));
            Assert.Contains("line 1", error.Message, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
