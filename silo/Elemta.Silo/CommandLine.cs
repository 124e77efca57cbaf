using System.Globalization;

namespace Elemta.Silo;

/// <summary>The silo's command line: a few flags of its own, anything else handed to configuration.</summary>
internal sealed record CommandLine(bool Dev, bool Help, bool Version, int? Port, string? DataDirectory, IReadOnlyList<string> ConfigurationArgs, bool NoAuthRequired = false, bool MigrateOnly = false)
{
    public const string Usage = """
        Usage: elemta-silo [options] [--Elemta:Section:Key=value ...]
               elemta-silo user|apikey <command> ...   (see below)
               elemta-silo db migrate [--Elemta:Section:Key=value ...]

        Runs an Elemta silo: the Orleans runtime, the SMTP front-end, the delivery queues and the
        admin plane's REST API. With no options it listens for SMTP on port 25 and for HTTP on
        http://127.0.0.1:8025 (Elemta:Http:Urls; Elemta:Http:Enabled=false for none), and keeps its
        state in ./data (SQLite).

        Commands:
          db migrate         Apply pending schema migrations to the configured database
                             (Elemta:Storage) and exit; a current schema is left as it is.

        Options:
          --dev              Development mode: SMTP on port 2525, or the first free of 2526-2528
                             when 2525 is busy and no port is set (printed at start); verbose
                             logs; a self-signed certificate for STARTTLS; PLAIN/LOGIN without TLS;
                             the interactive API reference at /scalar.
          --port <n>         SMTP port (same as Elemta:Smtp:Port).
          --data <dir>       Data directory (same as Elemta:DataDirectory; default ./data).
          --no-auth-required The submission port accepts mail without SMTP AUTH (under port 25's
                             relay rules), and PLAIN/LOGIN are offered without TLS
                             (Elemta:Smtp:AuthRequired=false, AllowPlaintextAuth=true).
          --help, -h, -?     Show this help and exit.
          --version          Show the version and exit.

        Any configuration key can be set as --Elemta:Section:Key=value, after appsettings.json and
        environment variables (Elemta__Section__Key=value). See docs/configuration.md.
        """;

    /// <summary>Parses <paramref name="args"/>; throws <see cref="FormatException"/> with a one-line message on bad input.</summary>
    public static CommandLine Parse(IReadOnlyList<string> args)
    {
        bool dev = false, help = false, version = false, noAuthRequired = false, migrateOnly = false;
        int? port = null;
        string? data = null;
        var rest = new List<string>();
        var first = 0;
        if (args.Count > 0 && args[0] == "db")
        {
            if (args.Count < 2 || args[1] != "migrate")
            {
                throw new FormatException("unknown command 'db" + (args.Count > 1 ? " " + args[1] : string.Empty) + "' (did you mean 'db migrate'?)");
            }

            migrateOnly = true;
            first = 2;
        }

        for (var i = first; i < args.Count; i++)
        {
            var arg = args[i];
            switch (arg)
            {
                case "--dev":
                    dev = true;
                    break;
                case "--help" or "-h" or "-?":
                    help = true;
                    break;
                case "--version":
                    version = true;
                    break;
                case "--no-auth-required":
                    noAuthRequired = true;
                    break;
                case "--port":
                    port = ParsePort(ValueOf(args, ref i, arg));
                    break;
                case "--data":
                    data = ValueOf(args, ref i, arg);
                    break;
                default:
                    if (arg.StartsWith("--port=", StringComparison.Ordinal))
                    {
                        port = ParsePort(arg["--port=".Length..]);
                    }
                    else if (arg.StartsWith("--data=", StringComparison.Ordinal))
                    {
                        data = arg["--data=".Length..];
                    }
                    else if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Contains(':', StringComparison.Ordinal))
                    {
                        // --Elemta:Smtp:Port=2600 or --Elemta:Smtp:Port 2600: configuration keys.
                        rest.Add(arg);
                        if (!arg.Contains('=', StringComparison.Ordinal))
                        {
                            rest.Add(ValueOf(args, ref i, arg));
                        }
                    }
                    else
                    {
                        throw new FormatException($"unknown option '{arg}' (see --help)");
                    }

                    break;
            }
        }

        return new CommandLine(dev, help, version, port, data, rest, noAuthRequired, migrateOnly);
    }

    private static string ValueOf(IReadOnlyList<string> args, ref int i, string option)
    {
        if (i + 1 >= args.Count)
        {
            throw new FormatException($"option '{option}' needs a value");
        }

        return args[++i];
    }

    private static int ParsePort(string text) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is >= 0 and <= 65535
            ? port
            : throw new FormatException($"'{text}' is not a TCP port (0-65535)");
}
