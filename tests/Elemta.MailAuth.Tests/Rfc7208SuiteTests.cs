using System.Net;
using Elemta.MailAuth.Spf;

namespace Elemta.MailAuth.Tests;

/// <summary>
/// Every case of the public RFC 7208 test suite (Debian python3-spf's rfc7208-tests.yml.gz) against
/// <see cref="SpfEvaluator"/>, each case a test of its own, with DNS answered from the case's zone data.
/// </summary>
public sealed class Rfc7208SuiteTests
{
    /// <summary>The explanation the suite expects when a fail has no usable exp= (its driver sets "DEFAULT").</summary>
    private const string DefaultExplanation = "DEFAULT";

    /// <summary>
    /// Cases Elemta knowingly does not pass, each with its reason. The theory asserts that each of these really does
    /// not meet the suite's expectation, so the pass count it implies stays honest: an exception that starts passing
    /// fails until it is taken off this list.
    /// </summary>
    private static readonly Dictionary<string, string> Exceptions = new(StringComparer.Ordinal);

    /// <summary>The number of cases in the 2014.04 release of the suite that python3-spf ships.</summary>
    private const int ExpectedCaseCount = 203;

    public static TheoryData<string> Cases()
    {
        var data = new TheoryData<string>();
        if (Rfc7208Suite.All is not { } cases)
        {
            // One row that fails with the reason, so a missing package cannot make the suite silently vanish.
            data.Add("python3-spf is not installed");
            return data;
        }

        foreach (var testCase in cases)
        {
            data.Add(testCase.Id);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Case(string id)
    {
        var cases = Rfc7208Suite.All ?? throw new InvalidOperationException(Rfc7208Suite.MissingMessage);
        var testCase = cases.Single(c => c.Id == id);
        var (passed, description) = await RunAsync(testCase);

        if (Exceptions.TryGetValue(id, out var reason))
        {
            Assert.False(passed, $"{id} is listed as an exception ({reason}) but now passes: take it off the list.");
            return;
        }

        Assert.True(passed, $"{id} (RFC 7208 {testCase.Spec}): {description}");
    }

    [Fact]
    public void SuiteIsInstalledAndComplete()
    {
        var cases = Rfc7208Suite.All;
        Assert.True(cases is not null, Rfc7208Suite.MissingMessage);
        Assert.Equal(ExpectedCaseCount, cases!.Count);
        Assert.Equal(cases.Count, cases.Select(c => c.Id).Distinct().Count());
        // Every exception names a real case.
        Assert.All(Exceptions.Keys, id => Assert.Contains(cases, c => c.Id == id));
    }

    [Fact]
    public async Task AllCasesButTheNamedExceptionsPass()
    {
        var cases = Rfc7208Suite.All;
        Assert.True(cases is not null, Rfc7208Suite.MissingMessage);
        var failed = new List<string>();
        foreach (var testCase in cases!)
        {
            var (passed, description) = await RunAsync(testCase);
            if (!passed && !Exceptions.ContainsKey(testCase.Id))
            {
                failed.Add($"{testCase.Id}: {description}");
            }
        }

        Assert.True(failed.Count == 0, $"{cases.Count - failed.Count - Exceptions.Count} of {cases.Count} pass; failing:\n" + string.Join('\n', failed));
    }

    private static async Task<(bool Passed, string Description)> RunAsync(SpfSuiteCase testCase)
    {
        var evaluator = new SpfEvaluator(testCase.Zone, new SpfEvaluatorOptions { DefaultExplanation = DefaultExplanation });
        var result = await evaluator.CheckMailFromAsync(IPAddress.Parse(testCase.Host), testCase.MailFrom, testCase.Helo, CancellationToken.None);
        var resultOk = testCase.Results.Contains(result.Name);
        var explanationOk = testCase.Explanation is null || testCase.Explanation == result.Explanation;
        var description = $"expected {string.Join(" or ", testCase.Results)}"
                          + (testCase.Explanation is null ? string.Empty : $" with explanation '{testCase.Explanation}'")
                          + $", got {result.Name}"
                          + (result.Explanation is null ? string.Empty : $" with explanation '{result.Explanation}'")
                          + (result.Mechanism is null ? string.Empty : $" by '{result.Mechanism}'")
                          + (result.Problem is null ? string.Empty : $" ({result.Problem})");
        return (resultOk && explanationOk, description);
    }
}
