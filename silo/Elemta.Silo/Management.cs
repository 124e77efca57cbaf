using System.Collections.Immutable;
using System.Globalization;
using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Elemta.Silo;

/// <summary>
/// <c>elemta user …</c> and <c>elemta apikey …</c>: account and API key management from the silo host's command line.
/// The commands talk to the running silo through its gateway (an Orleans client), so the change goes through the
/// same grains every silo reads; passwords are hashed here, and only their verifiers travel.
/// </summary>
internal static class Management
{
    public const string Usage = """
        Account and API key management (talks to the running silo through its gateway port):
          user add <name> [--role <role>]... [--sender <address|@domain|*>]... [--password-stdin]
                             Create an account (role: admin, operator, viewer, sender; default
                             sender). Without --password-stdin a random password is printed once.
          user passwd <name> [--password-stdin]
                             Set a new password (random and printed once without --password-stdin).
          user set <name> [--role <role>]... [--sender <...>]...
                             Replace an account's roles and allowed senders.
          user del <name>    Delete an account.
          user list          List accounts, their roles and allowed senders.
          apikey create --role <role> [--name <text>] [--expires <days>]
                             Create an API key; it is printed once and stored hashed.
          apikey list        List API keys (never their secrets).
          apikey revoke <id> Revoke an API key.
          The gateway port and cluster ids come from the same configuration as the silo's
          (appsettings.json, Elemta__… environment, --Elemta:Cluster:GatewayPort=<n>).
        """;

    public static bool Handles(IReadOnlyList<string> args) => args.Count > 0 && args[0] is "user" or "apikey";

    /// <summary>Runs a management command; 0 on success, 1 when it could not be done, 2 for a usage error.</summary>
    public static async Task<int> RunAsync(IReadOnlyList<string> args, TextReader input, TextWriter output, TextWriter error)
    {
        Command command;
        try
        {
            command = Command.Parse(args);
        }
        catch (FormatException ex)
        {
            await error.WriteLineAsync($"elemta: {ex.Message}").ConfigureAwait(false);
            return 2;
        }

        var configuration = new ConfigurationBuilder()
            .AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: true)
            .AddEnvironmentVariables()
            .AddCommandLine([.. command.ConfigurationArgs])
            .Build();
        var cluster = configuration.GetSection(ClusterOptions.SectionName).Get<ClusterOptions>() ?? new ClusterOptions();
        var credentials = configuration.GetSection(CredentialOptions.SectionName).Get<CredentialOptions>() ?? new CredentialOptions();
        if (credentials.Validate() is { } invalid)
        {
            await error.WriteLineAsync($"elemta: configuration error: {invalid}").ConfigureAwait(false);
            return 2;
        }

        string? password = null;
        if (command.PasswordStdin)
        {
            password = (await input.ReadLineAsync().ConfigureAwait(false))?.TrimEnd('\r');
            var problem = password is null ? "no password on standard input" : Passwords.Check(password);
            if (problem is not null)
            {
                await error.WriteLineAsync($"elemta: {problem}").ConfigureAwait(false);
                return 2;
            }
        }

        IHost host;
        try
        {
            host = await ConnectAsync(cluster).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            var reason = ex is OperationCanceledException ? "no answer within 20 seconds" : FirstLine(ex.Message);
            await error.WriteLineAsync($"elemta: cannot reach the silo at gateway port {cluster.GatewayPort} (is it running?): {reason}").ConfigureAwait(false);
            return 1;
        }

        using (host)
        {
            try
            {
                var grains = host.Services.GetRequiredService<IGrainFactory>();
                var actor = $"cli:{Environment.UserName}";
                var (code, message) = await command.ExecuteAsync(grains, credentials, password, actor, output).ConfigureAwait(false);
                if (message is not null)
                {
                    await error.WriteLineAsync($"elemta: {message}").ConfigureAwait(false);
                }

                return code;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                await error.WriteLineAsync($"elemta: {command.Verb} failed: {FirstLine(ex.Message)}").ConfigureAwait(false);
                return 1;
            }
            finally
            {
                using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                try
                {
                    await host.StopAsync(stop.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // The command is done; a slow goodbye to the gateway does not change its outcome.
                }
            }
        }
    }

    private static async Task<IHost> ConnectAsync(ClusterOptions cluster)
    {
        // A cluster with mutual TLS (Elemta:Cluster:Tls): the CLI presents the node's certificate, as the silo does.
        var tls = cluster.Tls.Enabled ? Elemta.ClusterTls.ClusterCertificates.Load(cluster.Tls, ClusterTlsOptions.SectionName + ":") : null;
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering(cluster.GatewayPort, cluster.ServiceId, cluster.ClusterId);
            if (tls is not null)
            {
                Elemta.ClusterTls.ClusterTlsBuilderExtensions.UseClusterTls(client, tls);
            }
        });
        var host = builder.Build();
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            await host.StartAsync(timeout.Token).ConfigureAwait(false);
            return host;
        }
        catch
        {
            host.Dispose();
            throw;
        }
    }

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    /// <summary>A parsed management command.</summary>
    private sealed record Command(
        string Verb,
        string? Name,
        ImmutableArray<UserRole> Roles,
        ImmutableArray<string> Senders,
        bool PasswordStdin,
        string? KeyName,
        int? ExpiresInDays,
        IReadOnlyList<string> ConfigurationArgs)
    {
        public static Command Parse(IReadOnlyList<string> args)
        {
            if (args.Count < 2)
            {
                throw new FormatException($"'{args[0]}' needs a subcommand (see --help)");
            }

            var verb = $"{args[0]} {args[1]}";
            string? name = null, keyName = null;
            int? expires = null;
            var passwordStdin = false;
            var roles = new List<string>();
            var senders = ImmutableArray.CreateBuilder<string>();
            var configuration = new List<string>();
            for (var i = 2; i < args.Count; i++)
            {
                var arg = args[i];
                switch (arg)
                {
                    case "--role":
                        roles.Add(ValueOf(args, ref i, arg));
                        break;
                    case "--sender":
                        var sender = ValueOf(args, ref i, arg);
                        if (SenderRules.Check(sender) is { } bad)
                        {
                            throw new FormatException(bad);
                        }

                        senders.Add(sender);
                        break;
                    case "--password-stdin":
                        passwordStdin = true;
                        break;
                    case "--name":
                        keyName = ValueOf(args, ref i, arg);
                        break;
                    case "--expires":
                        var days = ValueOf(args, ref i, arg);
                        expires = int.TryParse(days, NumberStyles.None, CultureInfo.InvariantCulture, out var d) && d is >= 1 and <= 36500
                            ? d
                            : throw new FormatException($"--expires takes a number of days (1-36500), not '{days}'");
                        break;
                    default:
                        if (arg.StartsWith("--", StringComparison.Ordinal) && arg.Contains(':', StringComparison.Ordinal))
                        {
                            configuration.Add(arg);
                            if (!arg.Contains('=', StringComparison.Ordinal))
                            {
                                configuration.Add(ValueOf(args, ref i, arg));
                            }
                        }
                        else if (!arg.StartsWith('-') && name is null)
                        {
                            name = arg;
                        }
                        else
                        {
                            throw new FormatException($"unexpected '{arg}' for '{verb}' (see --help)");
                        }

                        break;
                }
            }

            var needsName = verb is "user add" or "user passwd" or "user set" or "user del" or "apikey revoke";
            if (verb is not ("user add" or "user passwd" or "user set" or "user del" or "user list" or "apikey create" or "apikey list" or "apikey revoke"))
            {
                throw new FormatException($"unknown command '{verb}' (see --help)");
            }

            if (needsName && name is null)
            {
                throw new FormatException($"'{verb}' needs a {(verb == "apikey revoke" ? "key id" : "user name")}");
            }

            if (!needsName && name is not null)
            {
                throw new FormatException($"unexpected '{name}' for '{verb}' (see --help)");
            }

            if (verb.StartsWith("user", StringComparison.Ordinal) && name is not null)
            {
                name = Passwords.NormalizeUserName(name, out var error) ?? throw new FormatException(error!);
            }

            if (verb == "apikey create" && roles.Count != 1)
            {
                throw new FormatException("'apikey create' needs exactly one --role");
            }

            var parsedRoles = Passwords.ParseRoles(roles.Count == 0 && verb is "user add" or "user set" ? ["sender"] : roles);
            return new Command(verb, name, parsedRoles, senders.ToImmutable(), passwordStdin, keyName, expires, configuration);
        }

        private static string ValueOf(IReadOnlyList<string> args, ref int i, string option) =>
            i + 1 < args.Count ? args[++i] : throw new FormatException($"option '{option}' needs a value");

        public async Task<(int Code, string? Error)> ExecuteAsync(IGrainFactory grains, CredentialOptions options, string? password, string actor, TextWriter output)
        {
            switch (Verb)
            {
                case "user add":
                {
                    var secret = password ?? Passwords.Generate();
                    if (!await grains.GetGrain<IUserGrain>(Name!).CreateAsync(Roles, Senders, Passwords.CreateCredentials(secret, options), actor).ConfigureAwait(false))
                    {
                        return (1, $"user '{Name}' already exists");
                    }

                    await output.WriteLineAsync($"created user {Name} ({string.Join(',', Roles.Select(Passwords.RoleName))})").ConfigureAwait(false);
                    if (password is null)
                    {
                        await output.WriteLineAsync($"password (shown once): {secret}").ConfigureAwait(false);
                    }

                    return (0, null);
                }

                case "user passwd":
                {
                    var secret = password ?? Passwords.Generate();
                    if (!await grains.GetGrain<IUserGrain>(Name!).SetCredentialsAsync(Passwords.CreateCredentials(secret, options), actor).ConfigureAwait(false))
                    {
                        return (1, $"no user '{Name}'");
                    }

                    await output.WriteLineAsync($"password of {Name} changed").ConfigureAwait(false);
                    if (password is null)
                    {
                        await output.WriteLineAsync($"password (shown once): {secret}").ConfigureAwait(false);
                    }

                    return (0, null);
                }

                case "user set":
                    if (!await grains.GetGrain<IUserGrain>(Name!).UpdateAsync(Roles, Senders, actor).ConfigureAwait(false))
                    {
                        return (1, $"no user '{Name}'");
                    }

                    await output.WriteLineAsync($"updated user {Name}").ConfigureAwait(false);
                    return (0, null);

                case "user del":
                    if (!await grains.GetGrain<IUserGrain>(Name!).DeleteAsync(actor).ConfigureAwait(false))
                    {
                        return (1, $"no user '{Name}'");
                    }

                    await output.WriteLineAsync($"deleted user {Name}").ConfigureAwait(false);
                    return (0, null);

                case "user list":
                    foreach (var user in await grains.GetGrain<IUserDirectoryGrain>(IUserDirectoryGrain.Key).ListAsync().ConfigureAwait(false))
                    {
                        if (await grains.GetGrain<IUserGrain>(user).GetAsync().ConfigureAwait(false) is { } account)
                        {
                            var senders = account.AllowedSenders.IsDefaultOrEmpty ? "-" : string.Join(',', account.AllowedSenders);
                            await output.WriteLineAsync($"{account.Name}\t{string.Join(',', account.Roles.Select(Passwords.RoleName))}\t{senders}\t{account.ChangedAt:yyyy-MM-ddTHH:mm:ssZ}").ConfigureAwait(false);
                        }
                    }

                    return (0, null);

                case "apikey create":
                {
                    var now = DateTimeOffset.UtcNow;
                    var (key, record) = ApiKeys.Create(KeyName ?? string.Empty, Roles[0], now, actor, ExpiresInDays is { } days ? now.AddDays(days) : null);
                    if (!await grains.GetGrain<IApiKeyRegistryGrain>(IApiKeyRegistryGrain.Key).CreateAsync(record, actor).ConfigureAwait(false))
                    {
                        return (1, "key id collision; run the command again");
                    }

                    await output.WriteLineAsync($"created API key {record.Id} ({Passwords.RoleName(record.Role)})").ConfigureAwait(false);
                    await output.WriteLineAsync($"key (shown once): {key}").ConfigureAwait(false);
                    return (0, null);
                }

                case "apikey list":
                    foreach (var record in await grains.GetGrain<IApiKeyRegistryGrain>(IApiKeyRegistryGrain.Key).ListAsync().ConfigureAwait(false))
                    {
                        var state = record.RevokedAt is not null ? "revoked" : record.ExpiresAt is { } at && at <= DateTimeOffset.UtcNow ? "expired" : "active";
                        var expires = record.ExpiresAt is { } expiry ? expiry.ToString("yyyy-MM-ddTHH:mm:ssZ", CultureInfo.InvariantCulture) : "never";
                        await output.WriteLineAsync($"{record.Id}\t{Passwords.RoleName(record.Role)}\t{state}\texpires {expires}\t{record.Name}").ConfigureAwait(false);
                    }

                    return (0, null);

                default: // apikey revoke
                    if (!await grains.GetGrain<IApiKeyRegistryGrain>(IApiKeyRegistryGrain.Key).RevokeAsync(Name!, actor).ConfigureAwait(false))
                    {
                        return (1, $"no active API key '{Name}'");
                    }

                    await output.WriteLineAsync($"revoked API key {Name}").ConfigureAwait(false);
                    return (0, null);
            }
        }
    }
}
