using Elemta.Fuzz;

namespace Elemta.Smtp.Tests;

/// <summary>
/// Every seed of the fuzzing corpus (<c>tests/fuzz/corpus/&lt;target&gt;</c>) and every input that once crashed or hung a
/// target (<c>tests/fuzz/regressions/&lt;target&gt;</c>) runs through the same target the fuzzer drives: it must return
/// (a refusal is a reply, never an exception) and, for sessions, end once its input does.
/// </summary>
public sealed class FuzzCorpusTests
{
    public static TheoryData<string, string> Inputs()
    {
        var data = new TheoryData<string, string>();
        var root = Path.Combine(RepositoryRoot(), "tests", "fuzz");
        foreach (var folder in new[] { "corpus", "regressions" })
        {
            foreach (var target in FuzzTargets.All.Keys)
            {
                var directory = Path.Combine(root, folder, target);
                if (!Directory.Exists(directory))
                {
                    continue;
                }

                foreach (var file in Directory.GetFiles(directory).Where(f => !Path.GetFileName(f).StartsWith('.')).Order(StringComparer.Ordinal))
                {
                    data.Add(target, Path.GetRelativePath(root, file));
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Input_runs_through_its_target_without_an_exception_or_a_hang(string target, string file)
    {
        var input = File.ReadAllBytes(Path.Combine(RepositoryRoot(), "tests", "fuzz", file));
        FuzzTargets.All[target](input);
    }

    [Fact]
    public void The_session_target_reaches_the_end_of_DATA_so_fuzzing_explores_whole_transactions()
    {
        var before = FuzzTargets.MessagesAccepted;
        FuzzTargets.Session(File.ReadAllBytes(Path.Combine(RepositoryRoot(), "tests", "fuzz", "corpus", "session", "plain")));
        Assert.Equal(before + 1, FuzzTargets.MessagesAccepted);
    }

    [Fact]
    public void Every_target_has_a_seed_corpus()
    {
        foreach (var target in FuzzTargets.All.Keys)
        {
            Assert.NotEmpty(Directory.GetFiles(Path.Combine(RepositoryRoot(), "tests", "fuzz", "corpus", target)));
        }
    }

    private static string RepositoryRoot()
    {
        var directory = new DirectoryInfo(AppContext.BaseDirectory);
        while (directory is not null && !File.Exists(Path.Combine(directory.FullName, "Elemta.sln")))
        {
            directory = directory.Parent;
        }

        return directory?.FullName ?? throw new InvalidOperationException("Elemta.sln not found above the test's folder");
    }
}
