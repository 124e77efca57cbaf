using System.CommandLine;
using System.Globalization;
using Spectre.Console;

namespace Elemta.Silo.Cli;

/// <summary><c>elemta cluster status</c>.</summary>
internal static class ClusterCommand
{
    public static Command Create(CliContext context)
    {
        var cluster = new Command("cluster", "The cluster's silos.");
        var status = new Command("status", "Silos, their membership status, start, last heartbeat, activations, clients and overload.");
        status.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var silos = await client.GetClusterAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(context.Json))
            {
                await context.WriteJsonAsync(silos).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var table = CliContext.NewTable("ADDRESS", "NAME", "HOST", "STATUS", "STARTED", "ALIVE", "ACTIVATIONS", "CLIENTS", "OVERLOADED");
            foreach (var silo in silos)
            {
                table.AddRow(
                    CliContext.Escape(silo.Address), CliContext.Escape(silo.Name), CliContext.Escape(silo.HostName), CliContext.Escape(silo.Status),
                    context.Relative(silo.StartedAt), context.Relative(silo.LastAliveAt),
                    silo.Activations?.ToString(CultureInfo.InvariantCulture) ?? "-", silo.Clients?.ToString(CultureInfo.InvariantCulture) ?? "-",
                    silo.Overloaded is { } o ? (o ? "yes" : "no") : "-");
            }

            context.Console.Write(table);
            return silos.Any(s => s.Status == "Active") ? ExitCodes.Ok : ExitCodes.Failed;
        }));
        cluster.Subcommands.Add(status);
        return cluster;
    }
}
