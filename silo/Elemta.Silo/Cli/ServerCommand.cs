using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace Elemta.Silo.Cli;

/// <summary><c>elemta</c> / <c>elemta server</c>: run the silo.</summary>
internal static class ServerCommand
{
    private const string RootDescription = """
        Elemta, a mail transfer agent on Orleans.

        With no command (or 'server') it runs a silo: the Orleans runtime, the SMTP front-end, the delivery
        queues and the admin plane's REST API. With no options it listens for SMTP on port 25 and for HTTP on
        http://127.0.0.1:8025 (Elemta:Http:Urls; Elemta:Http:Enabled=false for none), and keeps its state in
        ./data (SQLite). Any configuration key can be set as --Elemta:Section:Key=value, after appsettings.json
        and environment variables (Elemta__Section__Key=value); see docs/configuration.md.

        The other commands manage a running cluster, through the Orleans gateway of this machine's configuration
        or, with --url, through the REST API. Exit codes: 0 ok, 1 failed, 2 usage, 3 not found, 4 unreachable,
        5 unauthorized, 6 conflict, 7 schema migrations pending (docs/cli.md).
        """;

    private sealed record RunOptions(Option<bool> Dev, Option<int?> Port, Option<string?> Data, Option<bool> NoAuthRequired, Option<bool> Version);

    public static RootCommand CreateRoot(CliContext context)
    {
        var root = new RootCommand(RootDescription);

        // System.CommandLine's own --version prints only the number; Elemta's says "Elemta <version>", as before.
        foreach (var builtIn in root.Options.Where(o => o is VersionOption).ToList())
        {
            root.Options.Remove(builtIn);
        }

        var run = AddRunOptions(root);
        root.SetAction((parse, ct) => RunAsync(parse, run, context));
        return root;
    }

    public static Command CreateServer(CliContext context)
    {
        var server = new Command("server", "Run the silo (what 'elemta' with no command does).");
        var run = AddRunOptions(server);
        server.SetAction((parse, ct) => RunAsync(parse, run, context));
        return server;
    }

    private static RunOptions AddRunOptions(Command command)
    {
        var options = new RunOptions(
            new Option<bool>("--dev")
            {
                Description = "Development mode: SMTP on port 2525, or the first free of 2526-2528 when 2525 is busy and no port is set (printed at start); verbose logs; a self-signed certificate for STARTTLS; PLAIN/LOGIN without TLS; the interactive API reference at /scalar.",
            },
            new Option<int?>("--port")
            {
                Description = "SMTP port (same as Elemta:Smtp:Port).",
                HelpName = "n",
                CustomParser = ParsePort,
            },
            DataOption(),
            new Option<bool>("--no-auth-required")
            {
                Description = "The submission port accepts mail without SMTP AUTH (under port 25's relay rules), and PLAIN/LOGIN are offered without TLS (Elemta:Smtp:AuthRequired=false, AllowPlaintextAuth=true).",
            },
            new Option<bool>("--version") { Description = "Show the version and exit." });
        command.Options.Add(options.Dev);
        command.Options.Add(options.Port);
        command.Options.Add(options.Data);
        command.Options.Add(options.NoAuthRequired);
        command.Options.Add(options.Version);
        return options;
    }

    public static Option<string?> DataOption() => new("--data")
    {
        Description = "Data directory (same as Elemta:DataDirectory; default ./data).",
        HelpName = "dir",
    };

    private static int? ParsePort(ArgumentResult result)
    {
        var text = result.Tokens.Count > 0 ? result.Tokens[0].Value : string.Empty;
        if (int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 0 and <= 65535)
        {
            return port;
        }

        result.AddError($"'{text}' is not a TCP port (0-65535)");
        return null;
    }

    private static async Task<int> RunAsync(ParseResult parse, RunOptions options, CliContext context)
    {
        if (parse.GetValue(options.Version))
        {
            await context.Out.WriteLineAsync($"Elemta {typeof(SiloHost).Assembly.GetName().Version}").ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        return await SiloHost.RunAsync(new CommandLine(
            parse.GetValue(options.Dev),
            parse.GetValue(options.Port),
            parse.GetValue(options.Data),
            context.ConfigurationArgs,
            parse.GetValue(options.NoAuthRequired))).ConfigureAwait(false);
    }
}
