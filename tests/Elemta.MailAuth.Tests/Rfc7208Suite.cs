using System.IO.Compression;
using YamlDotNet.RepresentationModel;

namespace Elemta.MailAuth.Tests;

/// <summary>One case of the suite: the SMTP identities, the expected results (any of them passes) and explanation.</summary>
internal sealed record SpfSuiteCase(
    string Scenario,
    string Name,
    string Helo,
    string Host,
    string MailFrom,
    IReadOnlyList<string> Results,
    string? Explanation,
    string Spec,
    SuiteZone Zone)
{
    /// <summary>The test case's name: scenario description and case name.</summary>
    public string Id => $"{Scenario} / {Name}";
}

/// <summary>
/// The public RFC 7208 SPF test suite (openspf.org, release 2014.04) as Debian's python3-spf installs it: YAML
/// documents, each a scenario with <c>zonedata</c> and <c>tests</c>. Read at run time from the installed file, never
/// from a copy in the repository.
/// </summary>
internal static class Rfc7208Suite
{
    /// <summary>Where python3-spf puts the suite.</summary>
    public const string Path = "/usr/share/doc/python3-spf/rfc7208-tests.yml.gz";

    public const string MissingMessage =
        $"The RFC 7208 test suite {Path} is missing: install the Debian package python3-spf " +
        "(apt-get install python3-spf; tests/run.sh installs it).";

    private static readonly Lazy<IReadOnlyList<SpfSuiteCase>?> Cases = new(Load);

    /// <summary>All cases, or null when the file is not installed.</summary>
    public static IReadOnlyList<SpfSuiteCase>? All => Cases.Value;

    private static List<SpfSuiteCase>? Load()
    {
        if (!File.Exists(Path))
        {
            return null;
        }

        using var file = File.OpenRead(Path);
        using var gzip = new GZipStream(file, CompressionMode.Decompress);
        using var reader = new StreamReader(gzip);
        var stream = new YamlStream();
        stream.Load(reader);

        var cases = new List<SpfSuiteCase>();
        foreach (var document in stream.Documents)
        {
            var root = (YamlMappingNode)document.RootNode;
            var scenario = Scalar(root, "description") ?? "(no description)";
            var zone = SuiteZone.FromZoneData((YamlMappingNode)root.Children[new YamlScalarNode("zonedata")]);
            foreach (var (key, value) in (YamlMappingNode)root.Children[new YamlScalarNode("tests")])
            {
                var test = (YamlMappingNode)value;
                var result = test.Children[new YamlScalarNode("result")];
                IReadOnlyList<string> results = result is YamlSequenceNode list
                    ? list.Children.Select(n => ((YamlScalarNode)n).Value!).ToList()
                    : [((YamlScalarNode)result).Value!];
                cases.Add(new SpfSuiteCase(
                    scenario,
                    ((YamlScalarNode)key).Value!,
                    Scalar(test, "helo") ?? string.Empty,
                    Scalar(test, "host") ?? string.Empty,
                    Scalar(test, "mailfrom") ?? string.Empty,
                    results,
                    Scalar(test, "explanation"),
                    Scalar(test, "spec") ?? string.Empty,
                    zone));
            }
        }

        return cases;
    }

    private static string? Scalar(YamlMappingNode node, string key) =>
        node.Children.TryGetValue(new YamlScalarNode(key), out var value) ? ((YamlScalarNode)value).Value : null;
}
