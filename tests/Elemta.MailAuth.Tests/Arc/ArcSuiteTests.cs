using System.Text;
using System.Text.RegularExpressions;
using Elemta.MailAuth.Arc;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using Xunit.Abstractions;

namespace Elemta.MailAuth.Tests.Arc;

/// <summary>
/// The public ARC test suite (draft-ietf-dmarc-arc-protocol-18) against <see cref="ArcValidator"/> and
/// <see cref="ArcSealer"/>: every validation case with its scenario's txt-records served by an <see cref="ArcKeyLocator"/>
/// over an in-memory DNS, and every signing case. Where the draft suite and RFC 8617 differ, RFC 8617 wins; each such
/// case is listed in <see cref="Rfc8617Overrides"/> with the reason.
/// </summary>
public sealed partial class ArcSuiteTests(ITestOutputHelper output)
{
    /// <summary>Cases whose expectation RFC 8617 changes: case name → (status RFC 8617 requires, why).</summary>
    internal static readonly IReadOnlyDictionary<string, (string Expected, string Reason)> Rfc8617Overrides =
        new Dictionary<string, (string, string)>(StringComparer.Ordinal)
        {
            ["cv_fail_i1_as_cv_fail"] = ("Fail",
                "the suite leaves cv empty (no verdict) for an ARC-Seal i=1 carrying cv=fail; RFC 8617 §5.2 step 2 makes a " +
                "chain whose highest seal says cv=fail a fail, and §4.1.3 allows only cv=none at i=1"),
            ["cv_fail_i2_as2_fail"] = ("Fail",
                "the suite leaves cv empty for a chain whose newest seal (i=2) says cv=fail; RFC 8617 §5.2 step 2: fail"),
            ["ams_fields_c_na"] = ("Fail",
                "the suite expects pass for an AMS without c= whose signature was made with relaxed header " +
                "canonicalization, as the draft's reference (dkimpy) defaults ARC to relaxed/relaxed; RFC 8617 §4.1.2 gives " +
                "the AMS the syntax and semantics of DKIM-Signature, whose missing c= means simple/simple (RFC 6376 §3.5), " +
                "so the signature does not verify"),
            ["cv_fail_i2_as1_fail"] = ("Fail",
                "the suite leaves cv empty for a chain whose i=1 seal says cv=fail; RFC 8617 §5.2 step 4 (cv must be none " +
                "at i=1, pass above) makes it a fail"),
        };

    public static TheoryData<string> ValidationCaseNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var c in ArcSuite.ValidationCases)
            {
                data.Add(c.Name);
            }

            return data;
        }
    }

    public static TheoryData<string> SigningCaseNames
    {
        get
        {
            var data = new TheoryData<string>();
            foreach (var c in ArcSuite.SigningCases)
            {
                data.Add(c.Name);
            }

            return data;
        }
    }

    private static CancellationToken Token() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    [Theory]
    [MemberData(nameof(ValidationCaseNames))]
    public async Task ValidationCase(string name)
    {
        var suiteCase = ArcSuite.ValidationCases.Single(c => c.Name == name);
        var expected = Expected(suiteCase);

        var actual = await ValidateAsync(suiteCase);

        Assert.True(string.Equals(expected, actual.Name, StringComparison.OrdinalIgnoreCase),
            $"{suiteCase.Scenario} / {name} ({suiteCase.Description}): expected {expected}, got {actual.ToAuthenticationResults()}");
    }

    [Fact]
    public async Task TheWholeValidationSuitePasses()
    {
        var cases = ArcSuite.ValidationCases;
        var failures = new List<string>();
        foreach (var suiteCase in cases)
        {
            var actual = await ValidateAsync(suiteCase);
            if (!string.Equals(Expected(suiteCase), actual.Name, StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"{suiteCase.Name}: expected {Expected(suiteCase)}, got {actual.ToAuthenticationResults()}");
            }
        }

        output.WriteLine($"ARC validation suite: {cases.Count - failures.Count} of {cases.Count} passed " +
            $"({Rfc8617Overrides.Count} with RFC 8617's expectation instead of the draft's: {string.Join(", ", Rfc8617Overrides.Keys)})");
        // The suite's ten scenarios hold 175 messages under 171 distinct names (four names twice; see
        // ArcSuite.RenameDuplicateCases); a count that changes means the copy or the reader changed.
        Assert.Equal(175, cases.Count);
        Assert.Equal(171, cases.Select(c => c.Name.Replace(ArcSuite.DuplicateSuffix, string.Empty, StringComparison.Ordinal)).Distinct().Count());
        Assert.Equal(10, cases.Select(c => c.Scenario).Distinct().Count());
        Assert.True(failures.Count == 0, string.Join(Environment.NewLine, failures));
        Assert.All(Rfc8617Overrides.Keys, k => Assert.Contains(cases, c => c.Name == k));
    }

    [Theory]
    [MemberData(nameof(SigningCaseNames))]
    public async Task SigningCase(string name)
    {
        var suiteCase = ArcSuite.SigningCases.Single(c => c.Name == name);
        var message = MimeMessage.Load(new MemoryStream(ArcSuite.ToWire(suiteCase.Message)));
        var sealer = new ArcSealer(
            new ArcSealerSettings
            {
                Domain = suiteCase.Domain,
                Selector = suiteCase.Selector,
                AuthServId = suiteCase.AuthServId,
                SignedHeaders = suiteCase.SignedHeaders,
            },
            new MemoryStream(Encoding.ASCII.GetBytes(suiteCase.PrivateKey)),
            new FakeTimeProvider(DateTimeOffset.FromUnixTimeSeconds(suiteCase.Timestamp)));

        var sealedIt = await sealer.SealAsync(message, Token());

        if (suiteCase.ExpectedSeal.Length == 0)
        {
            // "if a chain is failing, dont add another set" (RFC 8617 §5.1.2).
            Assert.False(sealedIt, $"{name}: a set was added");
            return;
        }

        Assert.True(sealedIt, $"{name}: no set was added");
        Assert.Equal(HeaderId.ArcSeal, message.Headers[0].Id);
        Assert.Equal(HeaderId.ArcMessageSignature, message.Headers[1].Id);
        Assert.Equal(HeaderId.ArcAuthenticationResults, message.Headers[2].Id);
        Assert.Equal(Normalize(suiteCase.ExpectedAuthenticationResults), Normalize(message.Headers[2].Value));
        // Every tag but b=: MimeKit writes the tags in another order than the suite's reference signer (dkimpy,
        // alphabetical), and the signature covers the header as written, so b= differs while the signed content
        // (bh=, h=, c=, cv=, t=…) is the same. The new set is instead verified below.
        AssertSameTags(suiteCase.ExpectedMessageSignature, message.Headers[1].Value, name + " AMS");
        AssertSameTags(suiteCase.ExpectedSeal, message.Headers[0].Value, name + " AS");

        var wire = new MemoryStream();
        await message.WriteToAsync(wire, Token());
        wire.Position = 0;
        var validation = await Validator(suiteCase.TxtRecords).ValidateAsync(MimeMessage.Load(wire), Token());
        var expected = Tags(suiteCase.ExpectedSeal)["cv"] == "fail" ? ArcChainStatus.Fail : ArcChainStatus.Pass;
        Assert.True(expected == validation.Status, $"{name}: the sealed message validates as {validation.ToAuthenticationResults()}");
    }

    [Fact]
    public void TheSigningSuiteLoads()
    {
        Assert.Equal(17, ArcSuite.SigningCases.Count);
        output.WriteLine($"ARC signing suite: {ArcSuite.SigningCases.Count} cases");
    }

    [Fact]
    public void TheSuiteIsShippedWithItsLicence()
    {
        var licence = File.ReadAllText(ArcSuite.PathOf("LICENSE.txt"));
        Assert.Contains("ValiMail", licence, StringComparison.Ordinal);
        Assert.Contains("Permission is hereby granted, free of charge", licence, StringComparison.Ordinal);
    }

    private static string Expected(ArcValidationCase suiteCase) =>
        Rfc8617Overrides.TryGetValue(suiteCase.Name, out var over) ? over.Expected : suiteCase.ExpectedStatus;

    private static ArcValidator Validator(IReadOnlyDictionary<string, string> txtRecords)
    {
        var dns = new MemoryDns();
        foreach (var (name, text) in txtRecords)
        {
            dns.Txt(name, text);
        }

        return new ArcValidator(new ArcKeyLocator(dns));
    }

    private static async Task<ArcValidation> ValidateAsync(ArcValidationCase suiteCase)
    {
        MimeMessage message;
        try
        {
            message = MimeMessage.Load(new MemoryStream(ArcSuite.ToWire(suiteCase.Message)));
        }
        catch (FormatException)
        {
            // An empty message has no header at all, so no ARC set: none.
            return new ArcValidation(ArcChainStatus.None, 0, MimeKit.Cryptography.ArcValidationErrors.None, false);
        }

        return await Validator(suiteCase.TxtRecords).ValidateAsync(message, Token());
    }

    private static string Normalize(string text) => Whitespace().Replace(text, " ").Trim().TrimEnd(';');

    private static Dictionary<string, string> Tags(string value)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var part in value.Split(';'))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0)
            {
                tags[part[..equals].Trim()] = Whitespace().Replace(part[(equals + 1)..], string.Empty);
            }
        }

        return tags;
    }

    private static void AssertSameTags(string expected, string actual, string what)
    {
        var want = Tags(expected);
        var got = Tags(actual);
        want.Remove("b");
        got.Remove("b");
        Assert.True(want.OrderBy(t => t.Key).SequenceEqual(got.OrderBy(t => t.Key)),
            $"{what}: expected {string.Join("; ", want.OrderBy(t => t.Key).Select(t => $"{t.Key}={t.Value}"))}, " +
            $"got {string.Join("; ", got.OrderBy(t => t.Key).Select(t => $"{t.Key}={t.Value}"))}");
    }

    [GeneratedRegex(@"\s+")]
    private static partial Regex Whitespace();
}
