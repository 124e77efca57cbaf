using System.CommandLine;
using Spectre.Console;
using Elemta.Contracts;

namespace Elemta.Silo.Cli;

/// <summary>
/// <c>elemta access list|allow|deny|remove</c>: the IP access list every silo enforces at connect (changes are
/// effective on every silo within <c>Elemta:AccessList:RefreshInterval</c>).
/// </summary>
internal static class AccessCommands
{
    public static Command Create(CliContext context)
    {
        var access = new Command("access", "The IP access list: networks allowed or refused (554 5.7.1) at connect, on every silo.");

        var list = new Command("list", "Every entry: network, action, comment, when and by whom it was added.");
        list.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var accessList = await client.GetAccessListAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(context.Json))
            {
                await context.WriteJsonAsync(accessList).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var table = CliContext.NewTable("NETWORK", "ACTION", "ADDED", "BY", "COMMENT");
            foreach (var entry in accessList.Entries)
            {
                table.AddRow(
                    CliContext.Escape(entry.Network), ActionName(entry.Action), context.Relative(entry.AddedAt),
                    CliContext.Escape(entry.AddedBy), CliContext.Escape(entry.Comment.Length == 0 ? "-" : entry.Comment));
            }

            context.Console.Write(table);
            return ExitCodes.Ok;
        }));
        access.Subcommands.Add(list);
        access.Subcommands.Add(SetCommand(context, "allow", AccessListAction.Allow, "Allow a network: its clients skip DNSBL and greylisting (a more specific deny still refuses)."));
        access.Subcommands.Add(SetCommand(context, "deny", AccessListAction.Deny, "Refuse a network's clients before the greeting with 554 5.7.1 (a more specific allow still admits)."));

        var network = NetworkArgument();
        var remove = new Command("remove", "Remove a network's entry.") { network };
        remove.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var cidr = parse.GetValue(network)!;
            await client.RemoveAccessListEntryAsync(cidr, ct).ConfigureAwait(false);
            return await DoneAsync(context, parse, new { network = cidr, removed = true }, $"removed {cidr} from the access list").ConfigureAwait(false);
        }));
        access.Subcommands.Add(remove);
        return access;
    }

    private static Command SetCommand(CliContext context, string name, AccessListAction action, string description)
    {
        var network = NetworkArgument();
        var comment = new Option<string?>("--comment") { Description = "Why (shown in the listing and the audit log; at most 200 characters)." };
        var command = new Command(name, description) { network, comment };
        command.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var entry = await client.SetAccessListEntryAsync(parse.GetValue(network)!, action, parse.GetValue(comment), ct).ConfigureAwait(false);
            return await DoneAsync(context, parse, entry, $"{ActionName(entry.Action)} {entry.Network}").ConfigureAwait(false);
        }));
        return command;
    }

    private static Argument<string> NetworkArgument() => new("network")
    {
        Description = "An IPv4 or IPv6 network in CIDR form (192.0.2.0/24, 2001:db8::/32) or a single address.",
    };

    private static string ActionName(AccessListAction action) => action == AccessListAction.Deny ? "deny" : "allow";

    private static async Task<int> DoneAsync(CliContext context, ParseResult parse, object json, string text)
    {
        if (parse.GetValue(context.Json))
        {
            await context.WriteJsonAsync(json).ConfigureAwait(false);
        }
        else
        {
            await context.Out.WriteLineAsync(text).ConfigureAwait(false);
        }

        return ExitCodes.Ok;
    }
}
