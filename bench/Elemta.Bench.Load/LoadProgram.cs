namespace Elemta.Bench.Load;

/// <summary>The command line: parse, run, report. Separate from <c>Program</c> so tests run it in-process.</summary>
public static class LoadProgram
{
    /// <summary>Exit code when every message was accepted without an error.</summary>
    public const int Success = 0;

    /// <summary>Exit code when there was at least one error.</summary>
    public const int HadErrors = 1;

    /// <summary>Exit code for invalid arguments.</summary>
    public const int BadArguments = 2;

    /// <summary>Runs the generator as the command line <paramref name="args"/> asks and returns the exit code.</summary>
    public static async Task<int> RunAsync(
        IReadOnlyList<string> args, TextWriter output, TextWriter errorOutput, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(output);
        ArgumentNullException.ThrowIfNull(errorOutput);
        var options = LoadOptions.Parse(args, out var error);
        if (options is null)
        {
            if (error is null)
            {
                await output.WriteAsync(LoadOptions.HelpText);
                return Success;
            }

            await errorOutput.WriteLineAsync(error);
            return BadArguments;
        }

        if (options.PrintContent)
        {
            var template = new MessageTemplate(options, TimeProvider.System);
            await using var stdout = Console.OpenStandardOutput();
            await stdout.WriteAsync(template.Content, cancellationToken);
            return Success;
        }

        var result = await new LoadGenerator(options).RunAsync(cancellationToken);
        foreach (var description in result.FirstErrors)
        {
            await errorOutput.WriteLineAsync("error: " + description);
        }

        if (result.Errors > result.FirstErrors.Count)
        {
            await errorOutput.WriteLineAsync($"error: … and {result.Errors - result.FirstErrors.Count} more");
        }

        await output.WriteLineAsync(result.ToSummaryLine());
        if (options.JsonPath is not null)
        {
            await using var file = File.Create(options.JsonPath);
            await result.WriteJsonAsync(file, cancellationToken);
        }

        return result.Errors == 0 && result.Failed == 0 ? Success : HadErrors;
    }
}
