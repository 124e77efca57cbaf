using System.Text;
using YamlDotNet.RepresentationModel;

namespace Elemta.MailAuth.Tests.Arc;

/// <summary>One validation case of the ARC test suite: a message and the chain validation status it should get.</summary>
internal sealed record ArcValidationCase(
    string Scenario,
    string Name,
    string Description,
    string Message,
    string ExpectedStatus,
    IReadOnlyDictionary<string, string> TxtRecords);

/// <summary>One signing case: a message, the sealer's parameters, and the ARC set it should get.</summary>
internal sealed record ArcSigningCase(
    string Scenario,
    string Name,
    string Description,
    string Message,
    long Timestamp,
    IReadOnlyList<string> SignedHeaders,
    string AuthServId,
    string Domain,
    string Selector,
    string PrivateKey,
    string ExpectedSeal,
    string ExpectedMessageSignature,
    string ExpectedAuthenticationResults,
    IReadOnlyDictionary<string, string> TxtRecords);

/// <summary>
/// The public ARC test suite (ValiMail arc_test_suite, commit f137dcb9, MIT licence — Arc/testdata/LICENSE.txt), written
/// against draft-ietf-dmarc-arc-protocol-18. The YAML files are copied into this project (Arc/testdata, copied to the
/// output directory) so the tests need nothing outside the repository.
/// </summary>
internal static partial class ArcSuite
{
    public const string ValidationFile = "arc-draft-validation-tests.yml";
    public const string SigningFile = "arc-draft-sign-tests.yml";

    private static readonly Lazy<IReadOnlyList<ArcValidationCase>> Validation = new(LoadValidation);
    private static readonly Lazy<IReadOnlyList<ArcSigningCase>> Signing = new(LoadSigning);

    public static IReadOnlyList<ArcValidationCase> ValidationCases => Validation.Value;

    public static IReadOnlyList<ArcSigningCase> SigningCases => Signing.Value;

    public static string PathOf(string file) => Path.Combine(AppContext.BaseDirectory, "Arc", "testdata", file);

    /// <summary>The suite's messages are YAML text with LF line ends; mail on the wire has CRLF.</summary>
    public static byte[] ToWire(string message) => Encoding.UTF8.GetBytes(message.Replace("\r\n", "\n", StringComparison.Ordinal).Replace("\n", "\r\n", StringComparison.Ordinal));

    private static List<ArcValidationCase> LoadValidation()
    {
        var cases = new List<ArcValidationCase>();
        foreach (var root in Documents(ValidationFile))
        {
            var scenario = Scalar(root, "description")?.Trim() ?? "(no description)";
            var txt = TxtRecords(root);
            foreach (var (key, value) in (YamlMappingNode)root.Children[new YamlScalarNode("tests")])
            {
                var test = (YamlMappingNode)value;
                cases.Add(new ArcValidationCase(
                    scenario,
                    ((YamlScalarNode)key).Value!,
                    Scalar(test, "description")?.Trim() ?? string.Empty,
                    Scalar(test, "message") ?? string.Empty,
                    Scalar(test, "cv")?.Trim() ?? string.Empty,
                    txt));
            }
        }

        return cases;
    }

    private static List<ArcSigningCase> LoadSigning()
    {
        var cases = new List<ArcSigningCase>();
        foreach (var root in Documents(SigningFile))
        {
            var scenario = Scalar(root, "description")?.Trim() ?? "(no description)";
            var txt = TxtRecords(root);
            foreach (var (key, value) in (YamlMappingNode)root.Children[new YamlScalarNode("tests")])
            {
                var test = (YamlMappingNode)value;
                cases.Add(new ArcSigningCase(
                    scenario,
                    ((YamlScalarNode)key).Value!,
                    Scalar(test, "description")?.Trim() ?? string.Empty,
                    Scalar(test, "message") ?? string.Empty,
                    long.Parse(Scalar(test, "t")!, System.Globalization.CultureInfo.InvariantCulture),
                    Scalar(test, "sig-headers")!.Split(':'),
                    Scalar(test, "srv-id")!,
                    Scalar(root, "domain")!,
                    Scalar(root, "sel")!,
                    Scalar(root, "privatekey")!,
                    Scalar(test, "AS")?.Trim() ?? string.Empty,
                    Scalar(test, "AMS")?.Trim() ?? string.Empty,
                    Scalar(test, "AAR")?.Trim() ?? string.Empty,
                    txt));
            }
        }

        return cases;
    }

    private static List<YamlMappingNode> Documents(string file)
    {
        var path = PathOf(file);
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The ARC test suite file {path} is missing: it is copied from tests/Elemta.MailAuth.Tests/Arc/testdata at build.", path);
        }

        using var reader = new StringReader(RenameDuplicateCases(BlankFirstLines(File.ReadAllText(path))));
        var stream = new YamlStream();
        stream.Load(reader);
        return stream.Documents.Select(d => (YamlMappingNode)d.RootNode).ToList();
    }

    /// <summary>Suffix of a case name that appears a second time in its file.</summary>
    public const string DuplicateSuffix = "__2";

    /// <summary>
    /// Four validation case names appear twice in the validation file (as_fields_b_eol_wsp, as_fields_b_head_case,
    /// as_fields_b_head_unfold, as_fields_b_inl_wsp) with different messages. PyYAML keeps the last of each silently
    /// (hence "171 cases"); YamlDotNet rejects duplicate keys. The second occurrence is renamed with
    /// <see cref="DuplicateSuffix"/> so all 175 messages run.
    /// </summary>
    private static string RenameDuplicateCases(string text)
    {
        var lines = text.Split('\n');
        var seen = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < lines.Length; i++)
        {
            if (lines[i].StartsWith("---", StringComparison.Ordinal))
            {
                seen.Clear();
                continue;
            }

            var match = CaseKey().Match(lines[i]);
            if (match.Success && !seen.Add(match.Groups[1].Value))
            {
                lines[i] = $"  {match.Groups[1].Value}{DuplicateSuffix}:";
            }
        }

        return string.Join('\n', lines);
    }

    [System.Text.RegularExpressions.GeneratedRegex(@"^  ([a-z0-9_]+):\s*$")]
    private static partial System.Text.RegularExpressions.Regex CaseKey();

    /// <summary>
    /// The suite writes empty expectations as a literal block whose only line is spaces (<c>AS: |</c> then
    /// "<c>      </c>"). PyYAML, the suite's own reader, takes that as an empty string; YamlDotNet follows YAML 1.2 §8.1.1.1
    /// and rejects leading space-only lines indented deeper than the block. Such a line directly after the block
    /// indicator is emptied, which gives the same (empty) value; no other line changes.
    /// </summary>
    private static string BlankFirstLines(string text)
    {
        var lines = text.Split('\n');
        for (var i = 1; i < lines.Length; i++)
        {
            if (lines[i - 1].TrimEnd().EndsWith('|') && lines[i].Length > 0 && lines[i].Trim().Length == 0)
            {
                lines[i] = string.Empty;
            }
        }

        return string.Join('\n', lines);
    }

    private static Dictionary<string, string> TxtRecords(YamlMappingNode root)
    {
        var records = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        if (root.Children.TryGetValue(new YamlScalarNode("txt-records"), out var node) && node is YamlMappingNode map)
        {
            foreach (var (key, value) in map)
            {
                records[((YamlScalarNode)key).Value!] = ((YamlScalarNode)value).Value ?? string.Empty;
            }
        }

        return records;
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) && value is YamlScalarNode scalar ? scalar.Value : null;
}
