using System.CommandLine;
using Elemta.Client;
using Microsoft.Extensions.Options;

namespace Elemta.Silo.Cli;

/// <summary>
/// <c>elemta sendmail</c>, and the executable run through a link named <c>sendmail</c>: the interface cron, PHP's
/// <c>mail()</c> and scripts expect of the local MTA. The message is submitted through the Orleans gateway to the
/// message grain, which stores it durably before answering, exactly as SMTP does before its <c>250</c>; the exit code
/// is 0 only then (sysexits.h codes otherwise, as sendmail).
/// </summary>
/// <remarks>
/// The options are sendmail's, which predate POSIX conventions (<c>-oi</c>, <c>-odi</c>, <c>-fsender</c>,
/// <c>-f sender</c>), so they are read here rather than by System.CommandLine.
/// </remarks>
internal static class SendmailCommand
{
    public const string Usage = """
        Usage: sendmail [-t] [-i] [-f sender] [-F name] [-bm] [-o...] [--] [recipient ...] < message
               elemta sendmail ... (the same)

        Reads a message on standard input and queues it for delivery. Exit status 0 once it is stored
        durably; 64 usage, 65 bad message, 69 unavailable, 75 try again later (cluster unreachable).

          -t          Recipients from the To, Cc and Bcc header fields (and the arguments); Bcc is removed.
          -i, -oi     A line with a single '.' does not end the message (it always ends at end of input).
          -f sender   Envelope sender (also -fsender, -r sender); default: login@host. '<>' or '' for none.
          -F name     Full name for a From header field added when the message has none.
          -bm         Read mail from standard input and deliver it (the default and only mode).
          -o... -O... -v -m -n -U -G -L tag -N dsn -R ret -V envid -B type -C file -h n -X file
                      Accepted and ignored, as they are harmless here.
        A link named 'sendmail' to the elemta executable behaves as 'elemta sendmail'
        (ln -s /opt/elemta/elemta /usr/sbin/sendmail).
        """;

    /// <summary>The command as System.CommandLine lists it in help and completion; the run goes through <see cref="RunAsync"/>.</summary>
    public static Command CreateForHelp()
    {
        var command = new Command("sendmail", "sendmail-compatible submission: the message on standard input, recipients as arguments or -t (see 'elemta sendmail --help').");
        command.Arguments.Add(new Argument<string[]>("arguments") { Arity = ArgumentArity.ZeroOrMore, Description = "sendmail options and recipients." });
        return command;
    }

    public static async Task<int> RunAsync(IReadOnlyList<string> args, CliContext context, CancellationToken cancellationToken)
    {
        Arguments parsed;
        try
        {
            parsed = Arguments.Parse(args);
        }
        catch (FormatException ex)
        {
            await context.Error.WriteLineAsync($"sendmail: {ex.Message}").ConfigureAwait(false);
            return SysExits.Usage;
        }

        if (parsed.Help)
        {
            await context.Out.WriteLineAsync(Usage).ConfigureAwait(false);
            return SysExits.Ok;
        }

        MessageInput message;
        string hostName;
        try
        {
            hostName = MessageInput.HostName(context.Configuration);
            await using var stdin = context.In == Console.In ? Console.OpenStandardInput() : new MemoryStream(System.Text.Encoding.Latin1.GetBytes(await context.In.ReadToEndAsync(cancellationToken).ConfigureAwait(false)));
            message = await MessageInput.ReadAsync(stdin, dotEnds: !parsed.IgnoreDots, MessageInput.MaxSize(context.Configuration), cancellationToken).ConfigureAwait(false);
        }
        catch (MessageTooBigException ex)
        {
            await context.Error.WriteLineAsync($"sendmail: {ex.Message}").ConfigureAwait(false);
            return SysExits.DataError;
        }

        var recipients = new List<string>(parsed.Recipients);
        if (parsed.HeaderRecipients)
        {
            recipients.AddRange(message.HeaderRecipients);
            message.RemoveBcc();
        }

        if (recipients.Count == 0)
        {
            await context.Error.WriteLineAsync("sendmail: no recipients (give them as arguments, or use -t)").ConfigureAwait(false);
            return SysExits.Usage;
        }

        var sender = parsed.Sender ?? $"{Environment.UserName}@{hostName}";
        message.AddMissingHeaders(sender, parsed.FullName, hostName, context.Time.GetUtcNow());
        try
        {
            await using var client = await context.ConnectGatewayAsync(cancellationToken).ConfigureAwait(false);
            await client.SubmitAsync(sender, recipients, message.Content, cancellationToken: cancellationToken).ConfigureAwait(false);
            return SysExits.Ok;
        }
        catch (ArgumentException ex)
        {
            await context.Error.WriteLineAsync($"sendmail: {ElemtaCli.OneLine(ex.Message)}").ConfigureAwait(false);
            return SysExits.DataError;
        }
        catch (ElemtaException ex)
        {
            await context.Error.WriteLineAsync($"sendmail: message not sent: {ElemtaCli.OneLine(ex.Message)}").ConfigureAwait(false);
            return ex.Kind switch
            {
                ElemtaErrorKind.Invalid => SysExits.Usage,
                ElemtaErrorKind.Unreachable => SysExits.TempFail,
                _ => SysExits.TempFail,
            };
        }
        catch (OptionsValidationException ex)
        {
            await context.Error.WriteLineAsync($"sendmail: configuration error: {ElemtaCli.OneLine(ex.Message)}").ConfigureAwait(false);
            return SysExits.Unavailable;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // Anything else went wrong inside Elemta: the caller should keep the message and try again.
            await context.Error.WriteLineAsync($"sendmail: message not sent: {ElemtaCli.OneLine(ex.Message)}").ConfigureAwait(false);
            return SysExits.TempFail;
        }
    }

    /// <summary>sendmail's command line.</summary>
    internal sealed record Arguments(bool HeaderRecipients, bool IgnoreDots, string? Sender, string? FullName, IReadOnlyList<string> Recipients, bool Help)
    {
        /// <summary>Options that take a value (in the same argument or the next) and are ignored.</summary>
        private const string IgnoredWithValue = "LNRVBChXO";

        /// <summary>Flags that are ignored.</summary>
        private const string IgnoredFlags = "vmnUG";

        public static Arguments Parse(IReadOnlyList<string> args)
        {
            bool t = false, i = false, help = false;
            string? sender = null, fullName = null;
            var recipients = new List<string>();
            var options = true;
            for (var n = 0; n < args.Count; n++)
            {
                var arg = args[n];
                if (!options || !arg.StartsWith('-') || arg == "-")
                {
                    recipients.AddRange(arg.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
                    continue;
                }

                if (arg == "--")
                {
                    options = false;
                    continue;
                }

                if (arg is "--help" or "-?")
                {
                    help = true;
                    continue;
                }

                var letter = arg[1];
                var inline = arg.Length > 2 ? arg[2..] : null;
                string Value() => inline ?? (n + 1 < args.Count ? args[++n] : throw new FormatException($"option -{letter} needs a value"));
                switch (letter)
                {
                    case 't' when inline is null:
                        t = true;
                        break;
                    case 'i' when inline is null:
                        i = true;
                        break;
                    case 'o':
                        // -oi is -i; every other -oX (-odi, -oem, -om, -oQ...) sets a sendmail.cf option that does not apply.
                        if (inline == "i")
                        {
                            i = true;
                        }
                        else if (inline is null)
                        {
                            throw new FormatException("option -o needs a letter (e.g. -oi)");
                        }

                        break;
                    case 'f' or 'r':
                        var value = Value().Trim();
                        sender = value is "<>" ? string.Empty : value.Trim('<', '>');
                        break;
                    case 'F':
                        fullName = Value();
                        break;
                    case 'b':
                        if (inline != "m")
                        {
                            throw new FormatException($"mode -b{inline} is not supported (only -bm, the default); use 'elemta queue' for the queue");
                        }

                        break;
                    case 'q':
                        throw new FormatException("-q (queue runs) is not needed: Elemta's queue runs by itself; use 'elemta queue flush deferred'");
                    case var c when IgnoredWithValue.Contains(c, StringComparison.Ordinal):
                        _ = Value();
                        break;
                    case var c when IgnoredFlags.Contains(c, StringComparison.Ordinal) && inline is null:
                        break;
                    default:
                        throw new FormatException($"unknown option {arg}");
                }
            }

            return new Arguments(t, i, sender, fullName, recipients, help);
        }
    }
}
