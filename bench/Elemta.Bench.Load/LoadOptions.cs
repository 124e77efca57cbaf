using System.Globalization;
using System.Text;

namespace Elemta.Bench.Load;

/// <summary>What the load generator sends, where, and how many sessions at once (the command line, parsed).</summary>
public sealed record LoadOptions
{
    /// <summary>The address of the SMTP server under load (an IP address or a host name).</summary>
    public string Host { get; init; } = "127.0.0.1";

    /// <summary>The SMTP server's TCP port.</summary>
    public int Port { get; init; } = 25;

    /// <summary>Concurrent SMTP sessions; together they send <see cref="Messages"/> messages.</summary>
    public int Sessions { get; init; } = 20;

    /// <summary>Messages to send in total.</summary>
    public int Messages { get; init; } = 10_000;

    /// <summary>
    /// The size of each message as the server stores it (header section, blank line and body, before dot-stuffing and
    /// without the terminating <c>.</c> line); never less than the header section.
    /// </summary>
    public int Size { get; init; } = 1024;

    /// <summary>Recipients (RCPT TO commands) per message.</summary>
    public int Recipients { get; init; } = 1;

    /// <summary>Recipient domains the recipients of each message are spread over, round-robin.</summary>
    public int Domains { get; init; } = 1;

    /// <summary>The reverse-path of MAIL FROM and the From: header.</summary>
    public string From { get; init; } = "bench@example.org";

    /// <summary>The local part of the recipients; numbered (<c>rcpt1</c>, <c>rcpt2</c>…) when there are several.</summary>
    public string RecipientLocalPart { get; init; } = "rcpt";

    /// <summary>The recipient domain, or with several domains the suffix of <c>d1.</c>…<c>dN.</c>.</summary>
    public string DomainSuffix { get; init; } = "example.net";

    /// <summary>Messages sent over one connection before QUIT and a new connection.</summary>
    public int MessagesPerConnection { get; init; } = 1;

    /// <summary>The EHLO name.</summary>
    public string HeloName { get; init; } = "bench.localhost";

    /// <summary>How long to wait for any one reply before the session counts an error and drops the connection.</summary>
    public TimeSpan ReplyTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>Where to write the result as JSON as well; <see langword="null"/> writes only the summary line.</summary>
    public string? JsonPath { get; init; }

    /// <summary>Header fields (CRLF-terminated lines) put before every message's own header, e.g. a DKIM-Signature made for the template; null for none.</summary>
    public string? PrependPath { get; init; }

    /// <summary>Write message 0's content (as the server should store it) to standard output instead of sending, so a script can sign it.</summary>
    public bool PrintContent { get; init; }

    /// <summary>The command-line help: every option with its default.</summary>
    public static string HelpText { get; } = """
        Elemta.Bench.Load: an SMTP load generator (like Postfix's smtp-source) that measures throughput and the
        latency of end-of-DATA → 250, and can fan each message out to several recipient domains.

        Usage: Elemta.Bench.Load [options]

          --host ADDR                    SMTP server address (default 127.0.0.1)
          --port N                       SMTP server port (default 25)
          --sessions N                   concurrent SMTP sessions sharing the message count (default 20)
          --messages N                   messages to send in total (default 10000)
          --size BYTES                   size of each message: header section + body, as stored (default 1024)
          --recipients N                 recipients (RCPT TO) per message (default 1)
          --domains N                    recipient domains per message, N <= --recipients (default 1); with N > 1
                                         the recipients go round-robin to d1.SUFFIX … dN.SUFFIX
          --from ADDR                    MAIL FROM address (default bench@example.org)
          --rcpt-local NAME              recipient local part; numbered NAME1…NAMEn with several (default rcpt)
          --domain-suffix DOMAIN         recipient domain, or the suffix of d1…dN (default example.net)
          --messages-per-connection N    messages per connection before QUIT (default 1)
          --helo NAME                    EHLO name (default bench.localhost)
          --timeout SECONDS              wait at most this long for any reply (default 60)
          --json FILE                    also write the result as JSON to FILE
          --prepend FILE                 put FILE's header fields (CRLF lines) before every message's header, e.g. a
                                         DKIM-Signature over From, To, Subject and the body (the only parts the
                                         same for every message)
          --print-content true           print message 0 as it is stored and exit, for a script to sign
          -h, --help                     show this help

        Output: one line of key=value pairs (messages sent, failed, errors, elapsed seconds from the first connect to
        the last 250, messages/s, latency p50/p90/p99/max in ms). Any unexpected reply or connection failure is an
        error; the first ones go to stderr and the exit code is 1 if there were any (2 for bad arguments).
        """;

    /// <summary>
    /// Parses the command line. Returns <see langword="null"/> with <paramref name="error"/> set when an argument is
    /// unknown or a value is invalid, and with <paramref name="error"/> <see langword="null"/> when help was asked for.
    /// </summary>
    public static LoadOptions? Parse(IReadOnlyList<string> args, out string? error)
    {
        ArgumentNullException.ThrowIfNull(args);
        var options = new LoadOptions();
        error = null;
        for (var i = 0; i < args.Count; i++)
        {
            var name = args[i];
            if (name is "-h" or "--help")
            {
                return null;
            }

            if (i + 1 >= args.Count)
            {
                error = name.StartsWith("--", StringComparison.Ordinal) && IsKnown(name)
                    ? $"{name} needs a value."
                    : $"Unknown argument '{name}' (see --help).";
                return null;
            }

            var value = args[++i];
            try
            {
                options = name switch
                {
                    "--host" => options with { Host = value },
                    "--port" => options with { Port = Int(value, 1, 65535) },
                    "--sessions" => options with { Sessions = Int(value, 1, 10_000) },
                    "--messages" => options with { Messages = Int(value, 1, 100_000_000) },
                    "--size" => options with { Size = Int(value, 0, 1024 * 1024 * 1024) },
                    "--recipients" => options with { Recipients = Int(value, 1, 1000) },
                    "--domains" => options with { Domains = Int(value, 1, 1000) },
                    "--from" => options with { From = Address(value) },
                    "--rcpt-local" => options with { RecipientLocalPart = Token(value) },
                    "--domain-suffix" => options with { DomainSuffix = Token(value) },
                    "--messages-per-connection" => options with { MessagesPerConnection = Int(value, 1, 100_000_000) },
                    "--helo" => options with { HeloName = Token(value) },
                    "--timeout" => options with { ReplyTimeout = TimeSpan.FromSeconds(Int(value, 1, 86_400)) },
                    "--json" => options with { JsonPath = value },
                    "--prepend" => options with { PrependPath = value },
                    "--print-content" => options with { PrintContent = bool.Parse(value) },
                    _ => throw new FormatException($"Unknown argument '{name}' (see --help)."),
                };
            }
            catch (FormatException ex)
            {
                error = ex.Message.StartsWith("Unknown", StringComparison.Ordinal) ? ex.Message : $"{name} {value}: {ex.Message}";
                return null;
            }
        }

        if (options.Domains > options.Recipients)
        {
            error = $"--domains {options.Domains} exceeds --recipients {options.Recipients}: every domain needs a recipient.";
            return null;
        }

        return options;
    }

    /// <summary>The recipient addresses of every message, spread round-robin over the domains.</summary>
    public IReadOnlyList<string> RecipientAddresses()
    {
        var addresses = new string[Recipients];
        for (var r = 0; r < Recipients; r++)
        {
            var local = Recipients == 1 ? RecipientLocalPart : RecipientLocalPart + (r + 1).ToString(CultureInfo.InvariantCulture);
            var domain = Domains == 1 ? DomainSuffix : $"d{(r % Domains) + 1}.{DomainSuffix}";
            addresses[r] = local + "@" + domain;
        }

        return addresses;
    }

    private static bool IsKnown(string name) => HelpText.Contains(name + " ", StringComparison.Ordinal);

    private static int Int(string value, int min, int max)
    {
        if (!int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < min || n > max)
        {
            throw new FormatException($"expected a whole number from {min} to {max}.");
        }

        return n;
    }

    // Values go into SMTP commands verbatim: no spaces, controls or non-ASCII that would break the command line.
    private static string Token(string value)
    {
        if (value.Length == 0 || !Ascii.IsValid(value) || value.Any(c => c <= ' ' || c == 127 || c is '<' or '>'))
        {
            throw new FormatException("expected printable ASCII without spaces or angle brackets.");
        }

        return value;
    }

    private static string Address(string value)
    {
        Token(value);
        return value.Contains('@', StringComparison.Ordinal) ? value : throw new FormatException("expected an address local@domain.");
    }
}
