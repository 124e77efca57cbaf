using System.CommandLine;
using Elemta.Client;
using Elemta.Contracts;

namespace Elemta.Silo.Cli;

/// <summary>
/// <c>elemta send</c>: submit a message file (or standard input) through the gateway, or with <c>--url</c> through the
/// REST API's <c>POST /api/messages</c> (operator role); either way it succeeds only once the message is stored durably.
/// </summary>
internal static class SendCommand
{
    public static Command Create(CliContext context)
    {
        var file = new Argument<string?>("file") { Description = "The RFC 5322 message; '-' or none for standard input.", Arity = ArgumentArity.ZeroOrOne };
        var from = new Option<string?>("--from") { Description = "Envelope sender (default: the message's Sender or From); '' for the null sender." };
        var to = new Option<string[]>("--to") { Description = "Envelope recipient; repeat for several (default: the To, Cc and Bcc addresses, and Bcc is removed)." };
        var priority = new Option<string>("--priority") { Description = "critical, high, normal, low or bulk.", DefaultValueFactory = _ => "normal" };
        priority.AcceptOnlyFromAmong("critical", "high", "normal", "low", "bulk");
        var send = new Command("send", "Submit a message to the queue; it is stored durably (as after SMTP's 250) before the command succeeds.") { file, from, to, priority };
        send.SetAction(async (parse, ct) =>
        {
            var path = parse.GetValue(file);
            MessageInput message;
            var max = MessageInput.MaxSize(context.Configuration);
            if (path is null or "-")
            {
                await using var stdin = Console.OpenStandardInput();
                message = await MessageInput.ReadAsync(stdin, dotEnds: false, max, ct).ConfigureAwait(false);
            }
            else
            {
                if (!File.Exists(path))
                {
                    throw new ElemtaException(ElemtaErrorKind.NotFound, $"no file '{path}'");
                }

                await using var stream = File.OpenRead(path);
                message = await MessageInput.ReadAsync(stream, dotEnds: false, max, ct).ConfigureAwait(false);
            }

            var recipients = parse.GetValue(to) ?? [];
            if (recipients.Length == 0)
            {
                recipients = [.. message.HeaderRecipients];
                message.RemoveBcc();
            }

            if (recipients.Length == 0)
            {
                throw new UsageException("no recipients: give --to or To/Cc/Bcc header fields");
            }

            var sender = parse.GetValue(from) ?? message.HeaderSender
                ?? throw new UsageException("no sender: give --from or a From header field");
            var level = Enum.Parse<MessagePriority>(parse.GetValue(priority)!, ignoreCase: true);
            return await context.WithClientAsync(parse, ct, async client =>
            {
                string id;
                try
                {
                    id = await client.SubmitAsync(sender, recipients, message.Content, level, ct).ConfigureAwait(false);
                }
                catch (ArgumentException ex)
                {
                    throw new UsageException(ElemtaCli.OneLine(ex.Message));
                }

                if (parse.GetValue(context.Json))
                {
                    await context.WriteJsonAsync(new { messageId = id, sender, recipients, size = message.Content.Length }).ConfigureAwait(false);
                }
                else
                {
                    await context.Out.WriteLineAsync($"queued as {id}").ConfigureAwait(false);
                }

                return ExitCodes.Ok;
            }).ConfigureAwait(false);
        });
        return send;
    }
}
