using System.Text;
using System.Xml.Linq;
using Elemta.Smtp.Protocol;
using Xunit.Abstractions;

namespace Elemta.Smtp.Tests;

/// <summary>
/// <see cref="SmtpPathParser"/> against Dominic Sayers' isemail corpus (v3.05, 164 addresses), read from
/// <c>../shared/testdata/isemail/tests.xml</c> next to the repository (nothing is copied into the repository).
/// </summary>
/// <remarks>
/// isemail judges addresses against RFC 5322 (message headers) as well as RFC 5321 (the SMTP envelope). Only the
/// envelope matters here, so each category maps to what RFC 5321 §4.1.2 / §4.1.3 / §4.5.3.1 (with the RFC 6531
/// UTF-8 extension) say about a Forward-path <c>&lt;address&gt;</c>:
/// <list type="table">
/// <item><term>ISEMAIL_VALID_CATEGORY</term><description>accepted: valid everywhere.</description></item>
/// <item><term>ISEMAIL_DNSWARN</term><description>accepted: syntactically valid; whether the domain has MX or A records
/// is the delivery's business (it bounces or defers), not the envelope grammar's.</description></item>
/// <item><term>ISEMAIL_RFC5321</term><description>accepted: valid in SMTP though unusual in practice — quoted local
/// parts (<c>Quoted-string</c>), address literals (<c>[192.0.2.1]</c>, <c>[IPv6:…]</c> within the §4.1.3 group
/// counts), a bare TLD (<c>test@org</c>) and numeric labels (<c>test@iana.123</c>, <c>test@255.255.255.255</c>):
/// <c>sub-domain = Let-dig [Ldh-str]</c> allows both; the "TLD is alphabetic" rule is RFC 1123's advice, not
/// RFC 5321 grammar. The exception would be a diagnosis naming a form RFC 5321 forbids; in v3.05 the only such one,
/// <c>ISEMAIL_RFC5321_IPV6DEPRECATED</c> (a "::" eliding one group, which §4.1.3 does not allow), is filed under
/// ISEMAIL_DEPREC, and <see cref="NotAllowedByRfc5321"/> keeps it rejected wherever it is filed.</description></item>
/// <item><term>ISEMAIL_RFC5322</term><description>rejected: forms only RFC 5322 allows — over the §4.5.3.1 lengths (local
/// part 64, label 63, domain 255, path 256 octets with its angle brackets), domain literals that are not address
/// literals (<c>[RFC-5322-domain-literal]</c>, an untagged IPv6, wrong IPv6 group counts), characters outside
/// <c>Let-dig</c>/<c>Ldh-str</c> in a domain.</description></item>
/// <item><term>ISEMAIL_CFWS</term><description>rejected: comments and folding white space do not exist in an SMTP path.</description></item>
/// <item><term>ISEMAIL_DEPREC</term><description>rejected: RFC 5322's obsolete syntax (<c>obs-local-part</c> such as
/// <c>"a".b</c>, control characters in quoted strings or quoted pairs, white space around dots or the @), none of
/// which <c>Dot-string</c>, <c>qtextSMTP</c> (%d32-33 / %d35-91 / %d93-126) or <c>quoted-pairSMTP</c> (%d92 %d32-126)
/// admits.</description></item>
/// <item><term>ISEMAIL_ERR</term><description>rejected: invalid everywhere. This includes a trailing dot on the domain
/// (<c>test@iana.org.</c>): <c>Domain = sub-domain *("." sub-domain)</c> has no root label.</description></item>
/// </list>
/// The empty address (test 1) is parsed as <c>&lt;&gt;</c> with <c>allowNull: false</c>, as in RCPT TO: the null
/// reverse-path of MAIL FROM is not an address.
/// </remarks>
public sealed class IsEmailCorpusTests(ITestOutputHelper output)
{
    private const int CorpusSize = 164;

    /// <summary>isemail diagnoses that name a form RFC 5321 does not allow, whatever category they are filed under.</summary>
    private static readonly HashSet<string> NotAllowedByRfc5321 = ["ISEMAIL_RFC5321_IPV6DEPRECATED"];

    private static readonly Dictionary<string, bool> AcceptedByCategory = new(StringComparer.Ordinal)
    {
        ["ISEMAIL_VALID_CATEGORY"] = true,
        ["ISEMAIL_DNSWARN"] = true,
        ["ISEMAIL_RFC5321"] = true,
        ["ISEMAIL_RFC5322"] = false,
        ["ISEMAIL_CFWS"] = false,
        ["ISEMAIL_DEPREC"] = false,
        ["ISEMAIL_ERR"] = false,
    };

    private sealed record Case(string Id, string Address, string Category, string Diagnosis);

    [Fact]
    public void Every_address_is_judged_as_RFC_5321_judges_an_envelope_path()
    {
        var cases = LoadCorpus();
        Assert.Equal(CorpusSize, cases.Count);

        var disagreements = new List<string>();
        var counts = new SortedDictionary<string, (int Accepted, int Rejected)>(StringComparer.Ordinal);
        foreach (var test in cases)
        {
            Assert.True(AcceptedByCategory.TryGetValue(test.Category, out var expected), $"test {test.Id}: category {test.Category} has no mapping");
            expected &= !NotAllowedByRfc5321.Contains(test.Diagnosis);

            var path = SmtpPathParser.Parse($"<{test.Address}>", allowNull: false, out var error);
            var accepted = path is not null;
            var (a, r) = counts.GetValueOrDefault(test.Category);
            counts[test.Category] = accepted ? (a + 1, r) : (a, r + 1);

            if (accepted != expected)
            {
                disagreements.Add($"test {test.Id} {Show(test.Address)} ({test.Category}/{test.Diagnosis}): expected {(expected ? "accepted" : "rejected")}, was {(accepted ? "accepted" : $"rejected: {error}")}");
            }
            else if (path is not null)
            {
                // An accepted address is kept exactly as written, with its domain in lower case.
                var expectedDomain = test.Address[(test.Address.LastIndexOf('@') + 1)..].ToLowerInvariant();
                if (path.Mailbox != test.Address || path.Domain != expectedDomain)
                {
                    disagreements.Add($"test {test.Id} {Show(test.Address)}: parsed as mailbox {Show(path.Mailbox)}, domain {Show(path.Domain)}");
                }
            }
            else if (string.IsNullOrEmpty(error))
            {
                disagreements.Add($"test {test.Id} {Show(test.Address)}: rejected without a reason");
            }
        }

        foreach (var (category, (accepted, rejected)) in counts)
        {
            output.WriteLine($"{category}: {accepted + rejected} addresses, {accepted} accepted, {rejected} rejected");
        }

        Assert.True(disagreements.Count == 0, $"{disagreements.Count} of {cases.Count} isemail addresses judged wrongly:\n{string.Join('\n', disagreements)}");
    }

    private static List<Case> LoadCorpus()
    {
        var path = CorpusPath();
        var document = XDocument.Load(path, LoadOptions.PreserveWhitespace);
        return
        [
            .. document.Root!.Elements("test").Select(t => new Case(
                (string)t.Attribute("id")!,
                Decode(t.Element("address")?.Value ?? string.Empty),
                t.Element("category")!.Value.Trim(),
                t.Element("diagnosis")!.Value.Trim())),
        ];
    }

    /// <summary><c>../shared/testdata/isemail/tests.xml</c> from the repository root (the folder holding Elemta.sln).</summary>
    private static string CorpusPath()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Elemta.sln")))
        {
            directory = directory.Parent;
        }

        Assert.True(directory is not null, $"Elemta.sln not found in {AppContext.BaseDirectory} or any folder above it: cannot locate the repository root.");
        var path = Path.GetFullPath(Path.Combine(directory.FullName, "..", "shared", "testdata", "isemail", "tests.xml"));
        Assert.True(File.Exists(path), $"The isemail corpus is missing: expected it at {path} (../shared/testdata/isemail/tests.xml from the repository root; see ../shared/README.md).");
        return path;
    }

    /// <summary>The corpus writes control characters as U+2400 + their code (U+2407 is BEL, U+240D CR, U+240A LF).</summary>
    private static string Decode(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text)
        {
            builder.Append(c is >= '\u2400' and <= '\u241F' ? (char)(c - 0x2400) : c);
        }

        return builder.ToString();
    }

    /// <summary>The address with control characters made visible again, for messages.</summary>
    private static string Show(string text)
    {
        var builder = new StringBuilder(text.Length + 2).Append('\'');
        foreach (var c in text)
        {
            builder.Append(c < 0x20 ? (char)(c + 0x2400) : c == 0x7F ? '\u2421' : c);
        }

        return builder.Append('\'').ToString();
    }
}
