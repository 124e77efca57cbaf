using System.CommandLine;
using System.Globalization;

namespace Elemta.Silo.Cli;

/// <summary><c>elemta web --listen 127.0.0.1:8025</c>: the admin plane as its own process, an Orleans client of the cluster.</summary>
internal static class WebCommand
{
    private const string Description = """
        Serve the admin plane — the REST API, the admin app at /, the Orleans Dashboard at /dashboard, /health and
        /metrics — as its own process: an Orleans client of the cluster of this machine's configuration (the gateway
        on localhost, or the PostgreSQL membership table; the node's certificate from Elemta:Cluster:Tls), for
        deployments that keep their silos private (Elemta:Http:Enabled=false on the silos). It runs the same code as
        a silo's HTTP server, and shares the cluster's sign-in keys: a sign-in here is valid on every silo.
        """;

    public static Command Create(CliContext context)
    {
        var web = new Command("web", Description);
        var listen = new Option<string[]>("--listen")
        {
            Description = "Address and port to serve HTTP on, e.g. 127.0.0.1:8025, [::1]:8025 or 0.0.0.0:8025 (repeatable). Default: Elemta:Http:Urls (http://127.0.0.1:8025).",
            HelpName = "address:port",
        };
        web.Options.Add(listen);
        web.SetAction((parse, ct) => ClientWebHost.RunAsync([.. (parse.GetValue(listen) ?? []).Select(ToUrl)], context.ConfigurationArgs, context.Error));
        return web;
    }

    /// <summary><c>host:port</c> (or an <c>http://</c> URL, taken as it is) as the URL Kestrel listens on.</summary>
    internal static string ToUrl(string listen)
    {
        if (listen.Contains("://", StringComparison.Ordinal))
        {
            return listen;
        }

        var colon = listen.LastIndexOf(':');
        var host = colon > 0 ? listen[..colon] : string.Empty;
        if (colon <= 0 || host.Length == 0 || (host.Contains(':', StringComparison.Ordinal) && !(host.StartsWith('[') && host.EndsWith(']')))
            || !int.TryParse(listen.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            throw new UsageException($"--listen: '{listen}' is not an address:port such as 127.0.0.1:8025 or [::1]:8025");
        }

        return "http://" + listen;
    }
}
