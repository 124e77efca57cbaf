using System.CommandLine;
using System.Globalization;
using Elemta.Client;
using Elemta.Contracts;
using Spectre.Console;

namespace Elemta.Silo.Cli;

/// <summary><c>elemta queue …</c> and <c>elemta domain …</c>: read and act on the queue.</summary>
internal static class QueueCommands
{
    /// <summary>Above this many messages an interactive flush or purge goes message by message behind a progress bar.</summary>
    private const long ProgressThreshold = 1000;

    private static readonly string[] StateNames = ["active", "deferred", "hold", "held", "failed", "delivered"];

    public static Command CreateQueue(CliContext context)
    {
        var queue = new Command("queue", "The queue: statistics, listings, one message, operator actions.");

        var stats = new Command("stats", "Messages per state, the oldest pending message, the busiest domains, recent outcomes.");
        stats.SetAction((parse, ct) => context.WithClientAsync(parse, ct, client => StatsAsync(context, parse, client, ct)));
        queue.Subcommands.Add(stats);

        var listState = StateArgument();
        var domain = new Option<string?>("--domain") { Description = "Only messages waiting for this domain." };
        var sender = new Option<string?>("--sender") { Description = "Only messages from this envelope sender (exact)." };
        var limit = new Option<int>("--limit") { Description = "At most this many messages (0 for all).", DefaultValueFactory = _ => 100 };
        var newest = new Option<bool>("--newest") { Description = "Newest first (default: oldest first)." };
        var list = new Command("list", "Messages in one state: active, deferred, hold, failed, delivered.") { listState, domain, sender, limit, newest };
        list.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var count = parse.GetValue(limit);
            if (count < 0)
            {
                throw new UsageException("--limit must be 0 (all) or more");
            }

            var filter = new QueueFilter(State(parse.GetValue(listState)!))
            {
                Domain = parse.GetValue(domain),
                Sender = parse.GetValue(sender),
                Newest = parse.GetValue(newest),
                PageSize = count is > 0 and < 1000 ? count : 500,
            };
            var messages = new List<QueuedMessage>();
            await foreach (var message in client.ListAsync(filter, ct).ConfigureAwait(false))
            {
                messages.Add(message);
                if (count > 0 && messages.Count >= count)
                {
                    break;
                }
            }

            if (parse.GetValue(context.Json))
            {
                await context.WriteJsonAsync(messages).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var table = CliContext.NewTable("ID", "STATE", "PRIORITY", "SENDER", "RCPTS", "SIZE", "RECEIVED", "UPDATED");
            foreach (var m in messages)
            {
                table.AddRow(m.MessageId, Name(m.State), m.Priority.ToString().ToLowerInvariant(), CliContext.Escape(m.Sender.Length == 0 ? "<>" : m.Sender),
                    m.Recipients.ToString(CultureInfo.InvariantCulture), Size(m.Size), context.Relative(m.ReceivedAt), context.Relative(m.UpdatedAt));
            }

            context.Console.Write(table);
            await context.Out.WriteLineAsync($"{messages.Count} message{(messages.Count == 1 ? string.Empty : "s")}").ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        queue.Subcommands.Add(list);

        var showId = new Argument<string>("id") { Description = "The message's queue id." };
        var show = new Command("show", "One message: envelope, each recipient's status, every attempt, and why it waits.") { showId };
        show.SetAction((parse, ct) => context.WithClientAsync(parse, ct, client => ShowAsync(context, parse, client, parse.GetValue(showId)!, ct)));
        queue.Subcommands.Add(show);

        var rawId = new Argument<string>("id") { Description = "The message's queue id." };
        var raw = new Command("raw", "The message as received (RFC 5322), to standard output; not found once it finished (its content is deleted then).") { rawId };
        raw.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var id = parse.GetValue(rawId)!;
            var content = await client.GetRawMessageAsync(id, ct).ConfigureAwait(false)
                ?? throw new ElemtaException(ElemtaErrorKind.NotFound, $"no content for message {id} (no such message, or it finished and its content was deleted)");

            // The octets as stored: 8-bit content must not pass through a text encoder.
            await context.Out.FlushAsync(ct).ConfigureAwait(false);
            await using var stdout = Console.OpenStandardOutput();
            await stdout.WriteAsync(content, ct).ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        queue.Subcommands.Add(raw);

        foreach (var (name, action, description) in new[]
        {
            ("hold", QueueAction.Hold, "Hold a message: no delivery until it is released."),
            ("release", QueueAction.Release, "Release a held message: due again now."),
            ("retry", QueueAction.RetryNow, "Retry a message now, ignoring its retry schedule."),
            ("delete", QueueAction.Delete, "Delete a message, notifying no one."),
        })
        {
            var id = new Argument<string>("id") { Description = "The message's queue id." };
            var command = new Command(name, description) { id };
            command.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
            {
                var messageId = parse.GetValue(id)!;
                var result = await client.ApplyToMessageAsync(messageId, action, ct).ConfigureAwait(false);
                return await ReportAsync(context, parse, result, $"{Past(action)} message {messageId}").ConfigureAwait(false);
            }));
            queue.Subcommands.Add(command);
        }

        queue.Subcommands.Add(StateCommand(context, "flush", QueueAction.RetryNow, "Make every waiting message of a state due now (active, deferred, hold)."));
        queue.Subcommands.Add(StateCommand(context, "purge", QueueAction.Delete, "Delete every message of a state, notifying no one (needs --yes)."));
        return queue;
    }

    public static Command CreateDomain(CliContext context)
    {
        var domainCommand = new Command("domain", "Domain queues: which domains wait, why, and actions on all of a domain's mail.");

        var limit = new Option<int>("--limit") { Description = "At most this many domains, busiest first.", DefaultValueFactory = _ => 100 };
        var list = new Command("list", "Domains with queued mail, busiest first.") { limit };
        list.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var stats = await client.GetStatisticsAsync(Math.Clamp(parse.GetValue(limit), 1, 10_000), ct).ConfigureAwait(false);
            if (parse.GetValue(context.Json))
            {
                await context.WriteJsonAsync(stats.Domains).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var table = CliContext.NewTable("DOMAIN", "QUEUED", "HELD");
            foreach (var d in stats.Domains)
            {
                table.AddRow(CliContext.Escape(d.Domain), ElemtaCli.Count(d.Queued), ElemtaCli.Count(d.Held));
            }

            context.Console.Write(table);
            return ExitCodes.Ok;
        }));
        domainCommand.Subcommands.Add(list);

        var showDomain = new Argument<string>("domain") { Description = "The recipient domain." };
        var show = new Command("show", "Why a domain's queue is (not) moving: entries, in flight, circuit, last reply, next attempt.") { showDomain };
        show.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var e = await client.ExplainDomainAsync(parse.GetValue(showDomain)!, ct).ConfigureAwait(false);
            if (parse.GetValue(context.Json))
            {
                await context.WriteJsonAsync(e).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var grid = new Grid().AddColumn().AddColumn();
            grid.AddRow("Domain", CliContext.Escape(e.Domain));
            grid.AddRow("Queued", $"{ElemtaCli.Count(e.Queued)} ({ElemtaCli.Count(e.Held)} held)");
            grid.AddRow("In flight", $"{e.InFlight.ToString(CultureInfo.InvariantCulture)} of {e.ConcurrencyLimit.ToString(CultureInfo.InvariantCulture)}");
            grid.AddRow("Circuit", e.Circuit.ToString().ToLowerInvariant() + (e.CircuitOpenUntil is { } until ? $" until {context.Relative(until)}" : string.Empty));
            grid.AddRow("Failures in a row", e.ConsecutiveFailures.ToString(CultureInfo.InvariantCulture));
            grid.AddRow("Last reply", CliContext.Escape(e.LastReply));
            grid.AddRow("Last attempt", context.Relative(e.LastAttemptAt));
            grid.AddRow("Next due", context.Relative(e.NextDueAt));
            context.Console.Write(grid);
            await context.Out.WriteLineAsync(e.Summary).ConfigureAwait(false);
            return ExitCodes.Ok;
        }));
        domainCommand.Subcommands.Add(show);

        foreach (var (name, action, description) in new[]
        {
            ("hold", QueueAction.Hold, "Hold every message waiting for the domain."),
            ("release", QueueAction.Release, "Release the domain's held messages (and close an open circuit)."),
            ("retry", QueueAction.RetryNow, "Retry the domain's messages now (and close an open circuit)."),
        })
        {
            var domain = new Argument<string>("domain") { Description = "The recipient domain." };
            var command = new Command(name, description) { domain };
            command.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
            {
                var result = await client.ApplyToDomainAsync(parse.GetValue(domain)!, action, ct).ConfigureAwait(false);
                return await ReportAsync(context, parse, result, $"{Past(action)} {ElemtaCli.Count(result.Messages)} message(s) for {parse.GetValue(domain)}").ConfigureAwait(false);
            }));
            domainCommand.Subcommands.Add(command);
        }

        return domainCommand;
    }

    private static Command StateCommand(CliContext context, string name, QueueAction action, string description)
    {
        var state = StateArgument();
        var command = new Command(name, description) { state };
        Option<bool>? yes = null;
        if (action == QueueAction.Delete)
        {
            yes = new Option<bool>("--yes", "-y") { Description = "Really delete them." };
            command.Options.Add(yes);
        }

        command.SetAction((parse, ct) =>
        {
            var queueState = State(parse.GetValue(state)!);
            if (yes is not null && !parse.GetValue(yes))
            {
                throw new UsageException($"purge deletes every {Name(queueState)} message without a bounce: add --yes");
            }

            if (action == QueueAction.RetryNow && queueState.IsFinal())
            {
                throw new UsageException($"{Name(queueState)} messages are finished: there is nothing to flush");
            }

            return context.WithClientAsync(parse, ct, async client =>
            {
                var json = parse.GetValue(context.Json);
                var stats = await client.GetStatisticsAsync(1, ct).ConfigureAwait(false);
                var total = stats.Messages.GetValueOrDefault(queueState);
                var result = context.Interactive && !json && total > ProgressThreshold
                    ? await OneByOneAsync(context, client, queueState, action, total, ct).ConfigureAwait(false)
                    : await client.ApplyToStateAsync(queueState, action, ct).ConfigureAwait(false);
                return await ReportAsync(context, parse, result, $"{Past(action)} {ElemtaCli.Count(result.Messages)} {Name(queueState)} message(s)").ConfigureAwait(false);
            });
        });
        return command;
    }

    /// <summary>A large flush or purge on a terminal: page through the state and act on each message, with a progress bar.</summary>
    private static async Task<QueueActionResult> OneByOneAsync(CliContext context, IElemtaClient client, MessageQueueState state, QueueAction action, long total, CancellationToken ct)
    {
        long messages = 0, entries = 0;
        await context.Console.Progress().StartAsync(async progress =>
        {
            var task = progress.AddTask($"{Past(action)} {Name(state)}", maxValue: total);
            var ids = new List<string>();
            await foreach (var message in client.ListAsync(new QueueFilter(state) { PageSize = 500 }, ct).ConfigureAwait(false))
            {
                ids.Add(message.MessageId);
            }

            task.MaxValue = Math.Max(1, ids.Count);
            foreach (var id in ids)
            {
                try
                {
                    var r = await client.ApplyToMessageAsync(id, action, ct).ConfigureAwait(false);
                    messages += r.Messages;
                    entries += r.Entries;
                }
                catch (ElemtaException ex) when (ex.Kind is ElemtaErrorKind.NotFound or ElemtaErrorKind.Conflict)
                {
                    // Delivered or deleted meanwhile: nothing left to do for it.
                }

                task.Increment(1);
            }
        }).ConfigureAwait(false);
        return new QueueActionResult(messages, entries);
    }

    private static async Task<int> StatsAsync(CliContext context, ParseResult parse, IElemtaClient client, CancellationToken ct)
    {
        var stats = await client.GetStatisticsAsync(10, ct).ConfigureAwait(false);
        long Of(MessageQueueState s) => stats.Messages.GetValueOrDefault(s);
        if (parse.GetValue(context.Json))
        {
            await context.WriteJsonAsync(new
            {
                messages = new { active = Of(MessageQueueState.Active), deferred = Of(MessageQueueState.Deferred), held = Of(MessageQueueState.Held), failed = Of(MessageQueueState.Failed), delivered = Of(MessageQueueState.Delivered) },
                oldestPendingReceivedAt = stats.OldestPendingReceivedAt,
                topDomains = stats.Domains,
                lastMinute = stats.LastMinute,
                lastHour = stats.LastHour,
            }).ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        var states = CliContext.NewTable("STATE", "MESSAGES");
        foreach (var s in Enum.GetValues<MessageQueueState>())
        {
            states.AddRow(Name(s), ElemtaCli.Count(Of(s)));
        }

        context.Console.Write(states);
        await context.Out.WriteLineAsync($"Oldest pending message: {(stats.OldestPendingReceivedAt is { } oldest ? $"received {context.Relative(oldest)}" : "none")}").ConfigureAwait(false);
        await context.Out.WriteLineAsync($"Last minute: {stats.LastMinute.Delivered} delivered, {stats.LastMinute.Deferred} deferred, {stats.LastMinute.Failed} failed; last hour: {stats.LastHour.Delivered} delivered, {stats.LastHour.Deferred} deferred, {stats.LastHour.Failed} failed").ConfigureAwait(false);
        if (!stats.Domains.IsDefaultOrEmpty)
        {
            var domains = CliContext.NewTable("DOMAIN", "QUEUED", "HELD");
            foreach (var d in stats.Domains)
            {
                domains.AddRow(CliContext.Escape(d.Domain), ElemtaCli.Count(d.Queued), ElemtaCli.Count(d.Held));
            }

            context.Console.Write(domains);
        }

        return ExitCodes.Ok;
    }

    private static async Task<int> ShowAsync(CliContext context, ParseResult parse, IElemtaClient client, string id, CancellationToken ct)
    {
        var explanation = await client.ExplainMessageAsync(id, ct).ConfigureAwait(false)
            ?? throw new ElemtaException(ElemtaErrorKind.NotFound, $"no message {id}");
        var attempts = await client.GetAttemptsAsync(id, ct).ConfigureAwait(false);
        var status = explanation.Status;
        if (parse.GetValue(context.Json))
        {
            await context.WriteJsonAsync(new
            {
                id,
                state = status.State,
                envelope = status.Envelope,
                recipients = status.Recipients,
                attempts,
                summary = explanation.Summary,
                domains = explanation.Domains,
            }).ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        var e = status.Envelope;
        var grid = new Grid().AddColumn().AddColumn();
        grid.AddRow("Id", id);
        grid.AddRow("State", Name(status.State));
        grid.AddRow("Sender", CliContext.Escape(e.Sender.Length == 0 ? "<>" : e.Sender));
        grid.AddRow("Received", $"{context.Relative(e.ReceivedAt)} from {CliContext.Escape(e.ClientAddress)}");
        grid.AddRow("Size", Size(e.Size));
        grid.AddRow("Priority", e.Priority.ToString().ToLowerInvariant());
        context.Console.Write(grid);

        var recipients = CliContext.NewTable("RECIPIENT", "STATUS", "ATTEMPTS", "LAST REPLY", "NEXT ATTEMPT");
        foreach (var r in status.Recipients)
        {
            recipients.AddRow(CliContext.Escape(r.Address), r.Status.ToString().ToLowerInvariant(), r.Attempts.ToString(CultureInfo.InvariantCulture), CliContext.Escape(r.LastReply), context.Relative(r.NextAttemptAt));
        }

        context.Console.Write(recipients);
        if (!attempts.IsDefaultOrEmpty)
        {
            var table = CliContext.NewTable("DOMAIN", "STARTED", "HOST", "ADDRESS", "TLS", "MS", "REPLY");
            foreach (var a in attempts)
            {
                var reply = a.Attempt.Results.IsDefaultOrEmpty ? "-" : a.Attempt.Results[0].Reply;
                table.AddRow(CliContext.Escape(a.Domain), context.Relative(a.Attempt.StartedAt), CliContext.Escape(a.Attempt.RemoteHost), CliContext.Escape(a.Attempt.RemoteAddress),
                    CliContext.Escape(a.Attempt.Tls), a.Attempt.Duration.TotalMilliseconds.ToString("0", CultureInfo.InvariantCulture), CliContext.Escape(reply));
            }

            context.Console.Write(table);
        }

        await context.Out.WriteLineAsync(explanation.Summary).ConfigureAwait(false);
        return ExitCodes.Ok;
    }

    private static async Task<int> ReportAsync(CliContext context, ParseResult parse, QueueActionResult result, string text)
    {
        if (parse.GetValue(context.Json))
        {
            await context.WriteJsonAsync(result).ConfigureAwait(false);
        }
        else
        {
            await context.Out.WriteLineAsync($"{text} ({ElemtaCli.Count(result.Entries)} queue entr{(result.Entries == 1 ? "y" : "ies")})").ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }

    private static Argument<string> StateArgument()
    {
        var state = new Argument<string>("state") { Description = "active, deferred, hold, failed or delivered." };
        state.AcceptOnlyFromAmong(StateNames);
        return state;
    }

    private static MessageQueueState State(string name) => name switch
    {
        "active" => MessageQueueState.Active,
        "deferred" => MessageQueueState.Deferred,
        "hold" or "held" => MessageQueueState.Held,
        "failed" => MessageQueueState.Failed,
        _ => MessageQueueState.Delivered,
    };

    private static string Name(MessageQueueState state) => state == MessageQueueState.Held ? "hold" : state.ToString().ToLowerInvariant();

    private static string Past(QueueAction action) => action switch
    {
        QueueAction.Hold => "held",
        QueueAction.Release => "released",
        QueueAction.RetryNow => "retried",
        _ => "deleted",
    };

    private static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:0.#} KiB"),
        _ => string.Create(CultureInfo.InvariantCulture, $"{bytes / (1024.0 * 1024):0.#} MiB"),
    };
}
