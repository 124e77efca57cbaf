using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Serialization;
using Elemta.Auth;
using Elemta.Client;
using Elemta.Storage;
using Microsoft.Extensions.Configuration;
using Spectre.Console;

namespace Elemta.Silo.Cli;

/// <summary>
/// What every command sees: the process's streams, the <c>--Elemta:…</c> configuration arguments taken off the command
/// line before parsing, and the options that choose how a command reaches the cluster and prints its answer.
/// </summary>
internal sealed class CliContext
{
    public static readonly JsonSerializerOptions JsonOutput = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    public CliContext(IReadOnlyList<string> configurationArgs, TextReader input, TextWriter output, TextWriter error, bool outputRedirected)
    {
        ConfigurationArgs = configurationArgs;
        In = input;
        Out = output;
        Error = error;
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(output),
            Ansi = outputRedirected ? AnsiSupport.No : AnsiSupport.Detect,
            ColorSystem = outputRedirected ? ColorSystemSupport.NoColors : ColorSystemSupport.Detect,
            Interactive = outputRedirected ? InteractionSupport.No : InteractionSupport.Detect,
        });
        if (outputRedirected)
        {
            // Piped output is read by programs and people with wide terminals alike: never wrap a table at 80 columns.
            console.Profile.Width = 400;
        }

        Console = console;
        Interactive = !outputRedirected;
    }

    public IReadOnlyList<string> ConfigurationArgs { get; }

    public TextReader In { get; }

    public TextWriter Out { get; }

    public TextWriter Error { get; }

    public IAnsiConsole Console { get; }

    /// <summary>Standard output is a terminal (progress bars only then).</summary>
    public bool Interactive { get; }

    public TimeProvider Time { get; init; } = TimeProvider.System;

    // --- Options every client command has (added to the root as recursive options) ------------------------------

    public Option<bool> Json { get; } = new("--json")
    {
        Description = "Print the answer as JSON (a stable shape, see docs/cli.md) instead of tables.",
        Recursive = true,
    };

    public Option<string?> Url { get; } = new("--url")
    {
        Description = "Reach the cluster through the REST API at this URL (env ELEMTA_URL), e.g. http://127.0.0.1:8025. Without it: the Orleans gateway from this machine's configuration.",
        Recursive = true,
    };

    public Option<string?> ApiKey { get; } = new("--api-key")
    {
        Description = "API key for --url (env ELEMTA_API_KEY). Or an account: ELEMTA_USER and ELEMTA_PASSWORD.",
        Recursive = true,
    };

    /// <summary>The silo's configuration: appsettings.json beside the executable, Elemta__… environment, --Elemta:… arguments.</summary>
    public IConfiguration Configuration => _configuration ??= new ConfigurationBuilder()
        .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
        .AddEnvironmentVariables()
        .AddCommandLine([.. ConfigurationArgs])
        .Build();

    private IConfiguration? _configuration;

    /// <summary>Opens the client the options ask for: the REST API with --url, otherwise the Orleans gateway.</summary>
    public async Task<IElemtaClient> ConnectAsync(ParseResult parse, CancellationToken cancellationToken)
    {
        var url = parse.GetValue(Url) ?? Environment.GetEnvironmentVariable("ELEMTA_URL");
        if (!string.IsNullOrEmpty(url))
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
            {
                throw new ElemtaException(ElemtaErrorKind.Invalid, $"--url: '{url}' is not an http:// or https:// URL");
            }

            var key = parse.GetValue(ApiKey) ?? Environment.GetEnvironmentVariable("ELEMTA_API_KEY");
            if (!string.IsNullOrEmpty(key))
            {
                return ElemtaHttpClient.WithApiKey(uri, key);
            }

            var user = Environment.GetEnvironmentVariable("ELEMTA_USER");
            var password = Environment.GetEnvironmentVariable("ELEMTA_PASSWORD");
            if (!string.IsNullOrEmpty(user) && password is not null)
            {
                return ElemtaHttpClient.WithAccount(uri, user, password);
            }

            throw new ElemtaException(ElemtaErrorKind.Invalid, "--url needs credentials: --api-key (or ELEMTA_API_KEY), or ELEMTA_USER and ELEMTA_PASSWORD");
        }

        return await ConnectGatewayAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>The Orleans gateway, found from the same configuration the silo reads (cluster ids, gateway port, PostgreSQL clustering).</summary>
    public async Task<ElemtaClient> ConnectGatewayAsync(CancellationToken cancellationToken)
    {
        // The same reading of the configuration as the 'elemta web' process: one place decides how this machine
        // finds and authenticates to the cluster.
        ElemtaClientOptions options;
        try
        {
            options = ClientWebHost.GatewayOptions(Configuration);
        }
        catch (InvalidOperationException ex)
        {
            throw new ElemtaException(ElemtaErrorKind.Invalid, $"configuration error: {ex.Message}", ex);
        }

        var credentials = Configuration.GetSection(CredentialOptions.SectionName).Get<CredentialOptions>() ?? new CredentialOptions();
        ElemtaClient client;
        try
        {
            client = await ElemtaClient.ConnectAsync(options, cancellationToken).ConfigureAwait(false);
        }
        catch (ElemtaException ex) when (ex.Kind == ElemtaErrorKind.Unreachable)
        {
            throw new ElemtaException(ex.Kind, $"{ex.Message} (is a silo running with this configuration? Elsewhere use --url)", ex);
        }

        client.Actor = $"cli:{Environment.UserName}";
        client.Credentials = credentials;
        return client;
    }

    /// <summary>Connects as the options ask, runs <paramref name="run"/>, and closes the connection.</summary>
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Design", "CA1068", Justification = "The command's body reads best as the last argument.")]
    public async Task<int> WithClientAsync(ParseResult parse, CancellationToken cancellationToken, Func<IElemtaClient, Task<int>> run)
    {
        var client = await ConnectAsync(parse, cancellationToken).ConfigureAwait(false);
        try
        {
            return await run(client).ConfigureAwait(false);
        }
        finally
        {
            if (client is IAsyncDisposable asyncDisposable)
            {
                await asyncDisposable.DisposeAsync().ConfigureAwait(false);
            }
            else if (client is IDisposable disposable)
            {
                disposable.Dispose();
            }
        }
    }

    public async Task WriteJsonAsync<T>(T value)
    {
        await Out.WriteLineAsync(JsonSerializer.Serialize(value, JsonOutput)).ConfigureAwait(false);
    }

    /// <summary>"3 min ago", "in 2 h": times as an operator reads them at a glance (UTC in --json).</summary>
    public string Relative(DateTimeOffset? at)
    {
        if (at is not { } time)
        {
            return "-";
        }

        var delta = time - Time.GetUtcNow();
        var span = delta.Duration();
        var text = span.TotalSeconds < 60 ? $"{span.TotalSeconds:0} s"
            : span.TotalMinutes < 60 ? $"{span.TotalMinutes:0} min"
            : span.TotalHours < 48 ? $"{span.TotalHours:0} h"
            : $"{span.TotalDays:0} d";
        return string.Create(CultureInfo.InvariantCulture, $"{(delta < TimeSpan.Zero ? text + " ago" : "in " + text)}");
    }

    public static Table NewTable(params string[] columns)
    {
        // Borderless and left-aligned, as `docker ps` or `postqueue -p`: easy to read and to cut with awk.
        var table = new Table().Border(TableBorder.None);
        foreach (var column in columns)
        {
            table.AddColumn(new TableColumn(column).NoWrap().PadLeft(0).PadRight(2));
        }

        return table;
    }

    /// <summary>Text as Spectre markup would otherwise read it (addresses and replies hold '[' and ']').</summary>
    public static string Escape(string? text) => Markup.Escape(text ?? "-");
}
