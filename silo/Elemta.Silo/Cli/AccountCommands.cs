using System.Collections.Immutable;
using System.CommandLine;
using System.Globalization;
using Elemta.Auth;
using Elemta.Client;
using Elemta.Contracts;
using Spectre.Console;

namespace Elemta.Silo.Cli;

/// <summary><c>elemta user …</c> and <c>elemta apikey …</c>: accounts and API keys.</summary>
internal static class AccountCommands
{
    public static Command CreateUser(CliContext context)
    {
        var user = new Command("user", "Accounts: who may sign in to the admin plane and send over SMTP AUTH.");

        var addName = NameArgument();
        var addRoles = RoleOption();
        var addSenders = SenderOption();
        var addStdin = PasswordStdinOption();
        var add = new Command("add", "Create an account (role default: sender). Without --password-stdin a random password is printed once.") { addName, addRoles, addSenders, addStdin };
        add.SetAction(async (parse, ct) =>
        {
            var name = UserName(parse.GetValue(addName)!);
            var roles = Roles(parse.GetValue(addRoles), defaultToSender: true);
            var senders = Senders(parse.GetValue(addSenders));
            var password = await PasswordAsync(context, parse.GetValue(addStdin)).ConfigureAwait(false);
            return await context.WithClientAsync(parse, ct, async client =>
            {
                var generated = await client.CreateUserAsync(name, roles, senders, password, ct).ConfigureAwait(false);
                if (parse.GetValue(context.Json))
                {
                    await context.WriteJsonAsync(new { name, roles, allowedSenders = senders, password = generated }).ConfigureAwait(false);
                    return ExitCodes.Ok;
                }

                await context.Out.WriteLineAsync($"created user {name} ({string.Join(',', roles.Select(Passwords.RoleName))})").ConfigureAwait(false);
                if (generated is not null)
                {
                    await context.Out.WriteLineAsync($"password (shown once): {generated}").ConfigureAwait(false);
                }

                return ExitCodes.Ok;
            }).ConfigureAwait(false);
        });
        user.Subcommands.Add(add);

        var passwdName = NameArgument();
        var passwdStdin = PasswordStdinOption();
        var passwd = new Command("passwd", "Set a new password (random and printed once without --password-stdin).") { passwdName, passwdStdin };
        passwd.SetAction(async (parse, ct) =>
        {
            var name = UserName(parse.GetValue(passwdName)!);
            var password = await PasswordAsync(context, parse.GetValue(passwdStdin)).ConfigureAwait(false);
            return await context.WithClientAsync(parse, ct, async client =>
            {
                var generated = await client.SetPasswordAsync(name, password, ct).ConfigureAwait(false);
                if (parse.GetValue(context.Json))
                {
                    await context.WriteJsonAsync(new { name, password = generated }).ConfigureAwait(false);
                    return ExitCodes.Ok;
                }

                await context.Out.WriteLineAsync($"password of {name} changed").ConfigureAwait(false);
                if (generated is not null)
                {
                    await context.Out.WriteLineAsync($"password (shown once): {generated}").ConfigureAwait(false);
                }

                return ExitCodes.Ok;
            }).ConfigureAwait(false);
        });
        user.Subcommands.Add(passwd);

        var setName = NameArgument();
        var setRoles = RoleOption();
        var setSenders = SenderOption();
        var set = new Command("set", "Replace an account's roles and allowed senders (role default: sender).") { setName, setRoles, setSenders };
        set.Aliases.Add("roles");
        set.SetAction((parse, ct) =>
        {
            var name = UserName(parse.GetValue(setName)!);
            var roles = Roles(parse.GetValue(setRoles), defaultToSender: true);
            var senders = Senders(parse.GetValue(setSenders));
            return context.WithClientAsync(parse, ct, async client =>
            {
                await client.UpdateUserAsync(name, roles, senders, ct).ConfigureAwait(false);
                return await DoneAsync(context, parse, new { name, roles, allowedSenders = senders }, $"updated user {name}").ConfigureAwait(false);
            });
        });
        user.Subcommands.Add(set);

        var delName = NameArgument();
        var del = new Command("del", "Delete an account.") { delName };
        del.Aliases.Add("delete");
        del.SetAction((parse, ct) =>
        {
            var name = UserName(parse.GetValue(delName)!);
            return context.WithClientAsync(parse, ct, async client =>
            {
                await client.DeleteUserAsync(name, ct).ConfigureAwait(false);
                return await DoneAsync(context, parse, new { name }, $"deleted user {name}").ConfigureAwait(false);
            });
        });
        user.Subcommands.Add(del);

        var list = new Command("list", "Accounts, their roles and allowed senders.");
        list.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var users = await client.ListUsersAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(context.Json))
            {
                await context.WriteJsonAsync(users).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var table = CliContext.NewTable("NAME", "ROLES", "SENDERS", "CHANGED");
            foreach (var u in users)
            {
                table.AddRow(CliContext.Escape(u.Name), string.Join(',', u.Roles.Select(Passwords.RoleName)), CliContext.Escape(u.AllowedSenders.IsDefaultOrEmpty ? "-" : string.Join(',', u.AllowedSenders)), context.Relative(u.ChangedAt));
            }

            context.Console.Write(table);
            return ExitCodes.Ok;
        }));
        user.Subcommands.Add(list);
        return user;
    }

    public static Command CreateApiKey(CliContext context)
    {
        var apikey = new Command("apikey", "API keys for the REST API (bearer tokens).");

        var role = new Option<string>("--role") { Description = "What the key may do: admin, operator, viewer.", Required = true, CompletionSources = { "admin", "operator", "viewer" } };
        var name = new Option<string?>("--name") { Description = "What the key is for." };
        var expires = new Option<int?>("--expires") { Description = "Days until it stops working (1-36500); default never.", HelpName = "days" };
        var create = new Command("create", "Create an API key; it is printed once and stored hashed.") { role, name, expires };
        create.SetAction((parse, ct) =>
        {
            var days = parse.GetValue(expires);
            if (days is not null and not (>= 1 and <= 36500))
            {
                throw new UsageException($"--expires takes a number of days (1-36500), not '{days}'");
            }

            var keyRole = Roles([parse.GetValue(role)!], defaultToSender: false)[0];
            return context.WithClientAsync(parse, ct, async client =>
            {
                var created = await client.CreateApiKeyAsync(keyRole, parse.GetValue(name) ?? string.Empty, days is { } d ? TimeSpan.FromDays(d) : null, ct).ConfigureAwait(false);
                if (parse.GetValue(context.Json))
                {
                    await context.WriteJsonAsync(created).ConfigureAwait(false);
                    return ExitCodes.Ok;
                }

                await context.Out.WriteLineAsync($"created API key {created.ApiKey.Id} ({Passwords.RoleName(created.ApiKey.Role)})").ConfigureAwait(false);
                await context.Out.WriteLineAsync($"key (shown once): {created.Key}").ConfigureAwait(false);
                return ExitCodes.Ok;
            });
        });
        apikey.Subcommands.Add(create);

        var list = new Command("list", "API keys (never their secrets).");
        list.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var keys = await client.ListApiKeysAsync(ct).ConfigureAwait(false);
            if (parse.GetValue(context.Json))
            {
                await context.WriteJsonAsync(keys).ConfigureAwait(false);
                return ExitCodes.Ok;
            }

            var table = CliContext.NewTable("ID", "ROLE", "STATE", "EXPIRES", "CREATED", "BY", "NAME");
            foreach (var k in keys)
            {
                table.AddRow(k.Id, Passwords.RoleName(k.Role), k.State.ToString().ToLowerInvariant(),
                    k.ExpiresAt is { } at ? at.ToString("yyyy-MM-dd", CultureInfo.InvariantCulture) : "never", context.Relative(k.CreatedAt), CliContext.Escape(k.CreatedBy), CliContext.Escape(k.Name.Length == 0 ? "-" : k.Name));
            }

            context.Console.Write(table);
            return ExitCodes.Ok;
        }));
        apikey.Subcommands.Add(list);

        var id = new Argument<string>("id") { Description = "The key's id (as listed)." };
        var revoke = new Command("revoke", "Revoke an API key; it stays listed as revoked.") { id };
        revoke.SetAction((parse, ct) => context.WithClientAsync(parse, ct, async client =>
        {
            var keyId = parse.GetValue(id)!;
            await client.RevokeApiKeyAsync(keyId, ct).ConfigureAwait(false);
            return await DoneAsync(context, parse, new { id = keyId, state = "revoked" }, $"revoked API key {keyId}").ConfigureAwait(false);
        }));
        apikey.Subcommands.Add(revoke);
        return apikey;
    }

    private static Argument<string> NameArgument() => new("name") { Description = "The login name (stored in lower case)." };

    private static Option<string[]> RoleOption() => new("--role")
    {
        Description = "admin, operator, viewer or sender; repeat for several.",
        CompletionSources = { "admin", "operator", "viewer", "sender" },
    };

    private static Option<string[]> SenderOption() => new("--sender")
    {
        Description = "A MAIL FROM the account may use: user@domain, @domain or *; repeat for several.",
    };

    private static Option<bool> PasswordStdinOption() => new("--password-stdin")
    {
        Description = "Read the new password from the first line of standard input.",
    };

    private static string UserName(string name) =>
        Passwords.NormalizeUserName(name, out var error) ?? throw new UsageException(error ?? $"'{name}' is not a user name");

    private static ImmutableArray<UserRole> Roles(string[]? names, bool defaultToSender)
    {
        try
        {
            return Passwords.ParseRoles(names is { Length: > 0 } ? names : defaultToSender ? ["sender"] : []);
        }
        catch (FormatException ex)
        {
            throw new UsageException(ex.Message);
        }
    }

    private static ImmutableArray<string> Senders(string[]? senders)
    {
        foreach (var sender in senders ?? [])
        {
            if (SenderRules.Check(sender) is { } bad)
            {
                throw new UsageException(bad);
            }
        }

        return [.. senders ?? []];
    }

    private static async Task<string?> PasswordAsync(CliContext context, bool fromStdin)
    {
        if (!fromStdin)
        {
            return null;
        }

        var password = (await context.In.ReadLineAsync().ConfigureAwait(false))?.TrimEnd('\r');
        var problem = password is null ? "no password on standard input" : Passwords.Check(password);
        return problem is null ? password : throw new UsageException(problem);
    }

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
