using System.Collections.Concurrent;
using System.Diagnostics;

namespace Elemta.Plugins.Scanners.Tests.Daemons;

/// <summary>
/// A daemon the tests start in the foreground (no fork into the background), in its own temporary folder, as a
/// non-root user when the tests run as root (rspamd and clamd refuse to run as root, as PostgreSQL does; tests run as
/// root in CI): the folder is then given to <c>runAs</c> and the daemon started through <c>runuser</c>. Killed with its
/// whole process tree (rspamd forks workers) on <see cref="Dispose"/>.
/// </summary>
internal sealed class DaemonProcess : IDisposable
{
    private readonly Process _process;
    private readonly ConcurrentQueue<string> _output = new();

    private DaemonProcess(Process process)
    {
        _process = process;
    }

    /// <summary>What the daemon wrote to standard output and error, for failure messages.</summary>
    public string Output => string.Join('\n', _output);

    public bool HasExited => _process.HasExited;

    /// <summary>
    /// Starts <paramref name="program"/> (an absolute path, checked to exist so a missing package is named) with
    /// <paramref name="arguments"/>; as root, first hands <paramref name="directory"/> to the first of
    /// <paramref name="users"/> that exists (or nobody) and runs the program as that user.
    /// </summary>
    public static DaemonProcess Start(string program, string package, IReadOnlyList<string> arguments, string directory, params string[] users)
    {
        Assert.True(File.Exists(program), $"{program} is missing: install the Debian package {package} (tests/run.sh installs it).");
        string? runAs = null;
        if (Environment.IsPrivilegedProcess)
        {
            runAs = users.Append("nobody").First(UserExists);
            Run("chown", "-R", runAs, directory);
        }

        var info = new ProcessStartInfo(runAs is null ? program : "runuser")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = directory,
        };
        if (runAs is not null)
        {
            foreach (var argument in (string[])["-u", runAs, "--", program])
            {
                info.ArgumentList.Add(argument);
            }
        }

        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        var process = new Process { StartInfo = info };
        var daemon = new DaemonProcess(process);
        process.OutputDataReceived += (_, e) => daemon.Keep(e.Data);
        process.ErrorDataReceived += (_, e) => daemon.Keep(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return daemon;
    }

    /// <summary>
    /// Polls <paramref name="ready"/> until it holds, failing at once when the daemon exits and after
    /// <paramref name="timeout"/> otherwise, with the daemon's output and <paramref name="log"/> in the message.
    /// </summary>
    public async Task WaitUntilReadyAsync(Func<Task<bool>> ready, TimeSpan timeout, string what, Func<string> log)
    {
        var deadline = Stopwatch.StartNew();
        while (!await ready())
        {
            if (HasExited)
            {
                Assert.Fail($"{what} exited with {_process.ExitCode} before it was ready:\n{Output}\n{log()}");
            }

            if (deadline.Elapsed > timeout)
            {
                Assert.Fail($"{what} was not ready after {timeout}:\n{Output}\n{log()}");
            }

            await Task.Delay(100);
        }
    }

    public void Dispose()
    {
        try
        {
            if (!_process.HasExited)
            {
                _process.Kill(entireProcessTree: true);
                _process.WaitForExit(10_000);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
    }

    /// <summary>Runs a command to completion, failing the test when it fails.</summary>
    public static void Run(string program, params string[] arguments)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), $"{program} did not finish within a minute");
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {output.Result}{error.Result}");
    }

    /// <summary>Removes a daemon's folder, best effort (a daemon killed a moment ago may still be closing files).</summary>
    public static void DeleteDirectory(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
        }
    }

    private void Keep(string? line)
    {
        if (line is not null && _output.Count < 500)
        {
            _output.Enqueue(line);
        }
    }

    private static bool UserExists(string name) =>
        File.Exists("/etc/passwd") && File.ReadLines("/etc/passwd").Any(l => l.StartsWith(name + ":", StringComparison.Ordinal));
}
