using System.Diagnostics;

namespace Elemta.Smtp.Tests;

/// <summary>Runs an external client program (Python's smtplib) to completion, bounded by <see cref="TestTimeouts.Process"/>.</summary>
internal static class ExternalProcess
{
    public const string PythonPath = "/usr/bin/python3";

    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunAsync(string fileName, IEnumerable<string> arguments)
    {
        var startInfo = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var argument in arguments)
        {
            startInfo.ArgumentList.Add(argument);
        }

        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        try
        {
            await process.WaitForExitAsync(TestTimeouts.Token(TestTimeouts.Process));
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} did not finish within {TestTimeouts.Process}.");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
