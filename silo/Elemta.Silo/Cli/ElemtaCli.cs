using System.CommandLine;
using System.Globalization;
using Elemta.Client;
using Microsoft.Extensions.Options;

namespace Elemta.Silo.Cli;

/// <summary>
/// The <c>elemta</c> command line (System.CommandLine): with no command it runs the silo, and its commands manage a
/// running cluster through the client SDK. Run as <c>sendmail</c> (a link to the executable) it is
/// <c>elemta sendmail</c>.
/// </summary>
internal static class ElemtaCli
{
    public static Task<int> RunAsync(string[] args) =>
        RunAsync(args, Console.In, Console.Out, Console.Error, Console.IsOutputRedirected, InvokedName());

    public static async Task<int> RunAsync(string[] args, TextReader input, TextWriter output, TextWriter error, bool outputRedirected, string? invokedAs)
    {
        // sendmail's options are not POSIX-style (-oi, -odi, -fsender): they are read by SendmailCommand's own parser,
        // before System.CommandLine would take "-oi" for a bundle of -o and -i.
        if (invokedAs is "sendmail" || args is ["sendmail", ..])
        {
            var rest = invokedAs is "sendmail" ? args : args[1..];
            var (configuration, sendmailArgs) = SplitConfiguration(rest, sendmail: true);
            var sendmailContext = new CliContext(configuration, input, output, error, outputRedirected);
            return await SendmailCommand.RunAsync(sendmailArgs, sendmailContext, CancellationToken.None).ConfigureAwait(false);
        }

        var (configurationArgs, commandArgs) = SplitConfiguration(args, sendmail: false);
        var context = new CliContext(configurationArgs, input, output, error, outputRedirected);
        var root = Build(context);
        // No response files: '@example.org' is an allowed sender (user add --sender @example.org), never a file to read.
        var parse = root.Parse(commandArgs, new ParserConfiguration { ResponseFileTokenReplacer = null });

        // Directives ([suggest] for shell completion, [diagram]) answer for themselves, whatever the rest parses to.
        var directive = commandArgs is [var first, ..] && first.StartsWith('[') && first.EndsWith(']');
        if (!directive && parse.UnmatchedTokens.Count > 0)
        {
            var token = parse.UnmatchedTokens[0];
            await error.WriteLineAsync(token.StartsWith('-')
                ? $"elemta: unknown option '{token}' (see --help)"
                : $"elemta: unexpected '{token}' (see --help)").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        if (!directive && parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            await error.WriteLineAsync($"elemta: {Joined(parse.Errors[0].Message)}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }

        try
        {
            return await parse.InvokeAsync(new InvocationConfiguration
            {
                Output = output,
                Error = error,
                EnableDefaultExceptionHandler = false,

                // The silo's host handles SIGTERM itself (a clean stop, exit 0, as systemd expects): System.CommandLine must not.
                ProcessTerminationTimeout = null,
            }).ConfigureAwait(false);
        }
        catch (ElemtaException ex)
        {
            await error.WriteLineAsync($"elemta: {OneLine(ex.Message)}").ConfigureAwait(false);
            return ExitCodes.For(ex.Kind);
        }
        catch (OptionsValidationException ex)
        {
            await error.WriteLineAsync($"elemta: configuration error: {OneLine(ex.Message)}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (UsageException ex)
        {
            await error.WriteLineAsync($"elemta: {ex.Message}").ConfigureAwait(false);
            return ExitCodes.Usage;
        }
        catch (OperationCanceledException)
        {
            await error.WriteLineAsync("elemta: interrupted").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var command = string.Join(' ', parse.CommandResult.Command.Name is "elemta" ? ["elemta"] : ["elemta", .. Path(parse.CommandResult)]);
            await error.WriteLineAsync($"elemta: {command} failed: {OneLine(ex.Message)}").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
    }

    /// <summary>The command tree.</summary>
    public static RootCommand Build(CliContext context)
    {
        var root = ServerCommand.CreateRoot(context);
        root.Options.Add(context.Json);
        root.Options.Add(context.Url);
        root.Options.Add(context.ApiKey);
        root.Subcommands.Add(ServerCommand.CreateServer(context));
        root.Subcommands.Add(QueueCommands.CreateQueue(context));
        root.Subcommands.Add(QueueCommands.CreateDomain(context));
        root.Subcommands.Add(AccountCommands.CreateUser(context));
        root.Subcommands.Add(AccountCommands.CreateApiKey(context));
        root.Subcommands.Add(DbCommand.Create(context));
        root.Subcommands.Add(SendCommand.Create(context));
        root.Subcommands.Add(ClusterCommand.Create(context));
        root.Subcommands.Add(AccessCommands.Create(context));
        root.Subcommands.Add(WebCommand.Create(context));
        root.Subcommands.Add(DkimCommand.Create(context));
        root.Subcommands.Add(SendmailCommand.CreateForHelp());
        return root;
    }

    /// <summary>
    /// Takes the configuration arguments (<c>--Elemta:Section:Key=value</c> or <c>--Elemta:Section:Key value</c>: an
    /// option name with a ':') off the command line, for every command, before parsing.
    /// </summary>
    internal static (IReadOnlyList<string> Configuration, string[] Remaining) SplitConfiguration(IReadOnlyList<string> args, bool sendmail)
    {
        var configuration = new List<string>();
        var rest = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            var name = arg.Split('=', 2)[0];
            if (arg.StartsWith("--", StringComparison.Ordinal) && name.Contains(':', StringComparison.Ordinal) && !(sendmail && arg == "--"))
            {
                configuration.Add(arg);
                if (!arg.Contains('=', StringComparison.Ordinal))
                {
                    if (i + 1 >= args.Count)
                    {
                        // Left for the parser, which reports it as an option without a value.
                        rest.Add(arg);
                        configuration.RemoveAt(configuration.Count - 1);
                        break;
                    }

                    configuration.Add(args[++i]);
                }
            }
            else if (arg == "--")
            {
                rest.AddRange(args.Skip(i));
                break;
            }
            else
            {
                rest.Add(arg);
            }
        }

        return (configuration, [.. rest]);
    }

    internal static string OneLine(string text) => text.Split('\n', 2)[0].Trim();

    /// <summary>A multi-line message (System.CommandLine lists allowed values one per line) on one line.</summary>
    private static string Joined(string text) => string.Join(' ', text.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0));

    private static Stack<string> Path(System.CommandLine.Parsing.CommandResult result)
    {
        var names = new Stack<string>();
        for (var current = result; current is not null && current.Command is not RootCommand; current = current.Parent as System.CommandLine.Parsing.CommandResult)
        {
            names.Push(current.Command.Name);
        }

        return names;
    }

    /// <summary>
    /// The name this process was started as. The runtime's argv[0] is the managed assembly, so the kernel's record of
    /// the command line is read: a <c>sendmail</c> link to the apphost shows there as <c>sendmail</c>.
    /// </summary>
    private static string? InvokedName()
    {
        try
        {
            var cmdline = File.ReadAllBytes("/proc/self/cmdline");
            var end = Array.IndexOf(cmdline, (byte)0);
            var first = System.Text.Encoding.UTF8.GetString(cmdline, 0, end < 0 ? cmdline.Length : end);
            return System.IO.Path.GetFileName(first);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or NotSupportedException)
        {
            return System.IO.Path.GetFileNameWithoutExtension(Environment.GetCommandLineArgs()[0]);
        }
    }

    internal static string Count(long n) => n.ToString("N0", CultureInfo.InvariantCulture);
}

/// <summary>A command-line value that parsed but makes no sense; exit code 2.</summary>
internal sealed class UsageException : Exception
{
    public UsageException()
    {
    }

    public UsageException(string message)
        : base(message)
    {
    }

    public UsageException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
