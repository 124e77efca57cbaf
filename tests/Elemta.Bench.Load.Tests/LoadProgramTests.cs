using System.Text.Json;
using Elemta.Testing;

namespace Elemta.Bench.Load.Tests;

/// <summary>The command line: arguments, the summary line, the JSON file and the exit code.</summary>
public sealed class LoadProgramTests
{
    [Fact]
    public async Task ASuccessfulRunPrintsOneSummaryLineWritesJsonAndExitsZero()
    {
        await using var sink = SmtpSink.Start();
        var json = Path.Combine(Path.GetTempPath(), $"elemta-load-{Guid.NewGuid():N}.json");
        try
        {
            var (code, output, errors) = await RunAsync(
                "--host", "127.0.0.1", "--port", sink.Port.ToString(System.Globalization.CultureInfo.InvariantCulture),
                "--sessions", "2", "--messages", "7", "--size", "2000", "--recipients", "3", "--domains", "3",
                "--from", "load@example.org", "--rcpt-local", "user", "--domain-suffix", "bench.test",
                "--messages-per-connection", "2", "--helo", "gen.test", "--timeout", "30", "--json", json);

            Assert.Equal((LoadProgram.Success, ""), (code, errors));
            var line = Assert.Single(output.Split('\n', StringSplitOptions.RemoveEmptyEntries));
            Assert.StartsWith("messages=7 sent=7 failed=0 errors=0 elapsed_s=", line, StringComparison.Ordinal);
            Assert.Contains(" latency_p99_ms=", line, StringComparison.Ordinal);

            using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
            var root = document.RootElement;
            Assert.Equal(7, root.GetProperty("sent").GetInt32());
            Assert.Equal(0, root.GetProperty("errors").GetInt32());
            Assert.True(root.GetProperty("msgs_per_s").GetDouble() > 0);
            Assert.True(root.GetProperty("latency_max_ms").GetDouble() >= root.GetProperty("latency_p50_ms").GetDouble());
            Assert.Equal(0, root.GetProperty("first_errors").GetArrayLength());

            Assert.Equal(7, sink.Messages.Count);
            Assert.All(sink.Messages, m =>
            {
                Assert.Equal(("gen.test", "load@example.org"), (m.HeloName, m.MailFrom));
                Assert.Equal(["user1@d1.bench.test", "user2@d2.bench.test", "user3@d3.bench.test"], m.Recipients);
            });
            Assert.Equal(4, sink.ConnectionCount);
        }
        finally
        {
            File.Delete(json);
        }
    }

    [Fact]
    public async Task ErrorsAreListedOnStandardErrorAndTheExitCodeIsOne()
    {
        await using var sink = SmtpSink.Start();
        sink.OnRecipient = _ => new SmtpSinkReply(550, "5.7.1 Relaying denied");

        var (code, output, errors) = await RunAsync(
            "--port", sink.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--messages", "12", "--sessions", "1",
            "--messages-per-connection", "12");

        Assert.Equal(LoadProgram.HadErrors, code);
        Assert.StartsWith("messages=12 sent=0 failed=12 errors=12 ", output, StringComparison.Ordinal);
        var lines = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(11, lines.Length);
        Assert.Equal("error: message 0, RCPT TO: 550 5.7.1 Relaying denied", lines[0]);
        Assert.Equal("error: … and 2 more", lines[^1]);
    }

    [Fact]
    public async Task HelpListsEveryOptionAndExitsZero()
    {
        var (code, output, _) = await RunAsync("--help");

        Assert.Equal(LoadProgram.Success, code);
        foreach (var option in new[]
        {
            "--host", "--port", "--sessions", "--messages", "--size", "--recipients", "--domains", "--from", "--rcpt-local",
            "--domain-suffix", "--messages-per-connection", "--helo", "--timeout", "--json",
        })
        {
            Assert.Contains(option + " ", output, StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("Unknown argument '--bogus'", "--bogus", "1")]
    [InlineData("--sessions 0: expected a whole number from 1", "--sessions", "0")]
    [InlineData("--port needs a value", "--port")]
    [InlineData("--domains 5 exceeds --recipients 1", "--domains", "5")]
    [InlineData("--from nobody: expected an address", "--from", "nobody")]
    [InlineData("--helo a b: expected printable ASCII", "--helo", "a b")]
    public async Task BadArgumentsAreExplainedAndExitTwo(string message, params string[] args)
    {
        var (code, output, errors) = await RunAsync(args);

        Assert.Equal((LoadProgram.BadArguments, ""), (code, output));
        Assert.Contains(message, errors, StringComparison.Ordinal);
    }

    private static async Task<(int Code, string Output, string Errors)> RunAsync(params string[] args)
    {
        using var output = new StringWriter();
        using var errors = new StringWriter();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var code = await LoadProgram.RunAsync(args, output, errors, timeout.Token);
        return (code, output.ToString(), errors.ToString());
    }
}
