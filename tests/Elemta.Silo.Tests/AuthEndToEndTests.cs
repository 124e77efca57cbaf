using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Text;
using Elemta.Smtp;
using Elemta.Storage;
using Elemta.Storage.Sqlite;
using Elemta.Testing;
using MailKit.Net.Smtp;
using MailKit.Security;
using Microsoft.Data.Sqlite;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MimeKit;

namespace Elemta.Silo.Tests;

/// <summary>
/// Accounts and AUTH with the real silo process: the first-start admin, the <c>user</c> and <c>apikey</c> commands
/// against the running silo, swaks on the submission port, a lockout seen by a second front-end, and a database file
/// without any password in it.
/// </summary>
public sealed class AuthEndToEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);
    private const string Password = "e2e-password-canary-7Qx";

    private static Dictionary<string, string> Settings(TempDirectory data, SmtpSink? sink = null, int? submissionPort = null)
    {
        var settings = new Dictionary<string, string>
        {
            ["Elemta:Auth:PasswordIterations"] = "10000",
            ["Elemta:Smtp:Tls:SelfSignedDirectory"] = Path.Combine(data.Path, "tls"),
            // 127.0.0.1 is not trusted here, so only AUTH lets it relay.
            ["Elemta:Smtp:TrustedNetworks:0"] = "192.0.2.0/24",
        };
        if (sink is not null)
        {
            settings["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}";
        }

        if (submissionPort is { } port)
        {
            settings["Elemta:Smtp:SubmissionPort"] = port.ToString(CultureInfo.InvariantCulture);
        }

        return settings;
    }

    [Fact]
    public async Task First_start_creates_admin_with_a_random_password_in_a_0600_file_and_a_restart_does_not()
    {
        using var data = new TempDirectory();
        var file = Path.Combine(data.Path, "initial-admin-password");
        string password;
        await using (var silo = await SiloProcess.StartAsync(data.Path, Settings(data)))
        {
            password = (await Eventually.GetAsync(() => Task.FromResult(File.Exists(file) ? File.ReadAllText(file) : ""), t => t.EndsWith('\n'), Timeout, "the initial admin password file")).Trim();
            Assert.Equal(24, password.Length);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
            // The log line and the file are written independently; wait for the line, then check it appears once.
            await Eventually.GetAsync(() => Task.FromResult(silo.Output), o => o.Contains(password, StringComparison.Ordinal), Timeout, "the password in the log");
            Assert.Single(Regex(silo.Output, password));

            var (code, list, _) = await CliAsync(silo, null, "user", "list");
            Assert.Equal(0, code);
            Assert.Matches(@"(?m)^admin\s+admin\s", list);
            await silo.TerminateAsync(Timeout);
        }

        File.Delete(file);
        await using (var again = await SiloProcess.StartAsync(data.Path, Settings(data)))
        {
            var (_, list, _) = await CliAsync(again, null, "user", "list");
            Assert.Matches(@"(?m)^admin\s", list);
            Assert.False(File.Exists(file));
            Assert.DoesNotContain("Created the initial", again.Output, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Accounts_made_with_the_cli_authenticate_swaks_on_the_submission_port_and_every_change_is_audited()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        var submission = FreePort.GetTcpPort();
        await using var silo = await SiloProcess.StartAsync(data.Path, Settings(data, sink, submission));

        var (code, output, error) = await CliAsync(silo, Password, "user", "add", "Alice@Example.org", "--password-stdin");
        Assert.True(code == 0, error);
        Assert.Equal("created user alice@example.org (sender)", output.Trim());

        // Submission requires AUTH; with it, swaks relays to the sink.
        var refused = await SwaksAsync(submission, "alice@example.org", null);
        Assert.Contains("530 5.7.0 Authentication required", refused.Output, StringComparison.Ordinal);
        var sent = await SwaksAsync(submission, "alice@example.org", Password, "--tls", "--header", "Subject: submitted with AUTH");
        Assert.True(sent.ExitCode == 0, sent.Output);
        var received = await sink.WaitForMessageAsync(_ => true, Timeout);
        Assert.Contains(" with ESMTPSA id ", Encoding.ASCII.GetString(received.Data), StringComparison.Ordinal);

        // A sender the account does not own.
        var spoofed = await SwaksAsync(submission, "ceo@example.org", Password, "--tls");
        Assert.Contains("553 5.7.1", spoofed.Output, StringComparison.Ordinal);

        // A new password replaces the old one at once.
        (code, output, _) = await CliAsync(silo, null, "user", "passwd", "alice@example.org");
        Assert.Equal(0, code);
        var newPassword = output.Split("password (shown once): ")[1].Trim();
        Assert.Contains("535 5.7.8", (await SwaksAsync(submission, "alice@example.org", Password, "--tls")).Output, StringComparison.Ordinal);
        Assert.Equal(0, (await SwaksAsync(submission, "alice@example.org", newPassword, "--tls")).ExitCode);

        // Errors are one line with a non-zero exit code.
        (code, _, error) = await CliAsync(silo, Password, "user", "add", "alice@example.org", "--password-stdin");
        Assert.Equal((6, "elemta: user 'alice@example.org' already exists"), (code, error.Trim()));
        (code, _, error) = await CliAsync(silo, null, "user", "add", "bad name");
        Assert.Equal(2, code);
        Assert.Single(error.Trim().Split('\n'));

        Assert.Equal(0, (await CliAsync(silo, null, "user", "del", "alice@example.org")).ExitCode);
        Assert.Contains("535 5.7.8", (await SwaksAsync(submission, "alice@example.org", newPassword, "--tls")).Output, StringComparison.Ordinal);
        (code, _, error) = await CliAsync(silo, null, "user", "del", "alice@example.org");
        Assert.Equal((3, "elemta: no user 'alice@example.org'"), (code, error.Trim()));

        var audit = await ReadAuditAsync(data);
        Assert.Equal(
            ["system user.create admin", "cli user.create alice@example.org", "cli user.password alice@example.org", "cli user.delete alice@example.org"],
            audit.Select(a => $"{(a.Actor.StartsWith("cli:", StringComparison.Ordinal) ? "cli" : a.Actor)} {a.Action} {a.Subject}"));
        Assert.DoesNotContain(audit, a => a.Detail.Contains(Password, StringComparison.Ordinal) || a.Detail.Contains(newPassword, StringComparison.Ordinal));
    }

    [Fact]
    public async Task On_a_postgres_cluster_an_account_made_through_one_silo_authenticates_on_another_and_keys_are_made_and_revoked_across_silos()
    {
        // Issue 11: on PostgreSQL the user grain could not be created (no audit log was registered), so a cluster
        // had no admin, no user, no AUTH and no API key.
        var server = await PostgresServer.GetAsync();
        var connectionString = await server.CreateDatabaseAsync("accounts");
        await using var sink = SmtpSink.Start();
        using var dataA = new TempDirectory();
        using var dataB = new TempDirectory();
        var clusterId = "accounts-" + Guid.NewGuid().ToString("N")[..8];
        Dictionary<string, string> ClusterSettings(TempDirectory data, int submission)
        {
            var settings = Settings(data, sink, submission);
            settings["Elemta:Storage:Provider"] = "PostgreSQL";
            settings["Elemta:Storage:ConnectionString"] = connectionString;
            settings["Elemta:Cluster:ClusterId"] = clusterId;
            settings["Elemta:Cluster:AdvertisedAddress"] = "127.0.0.1";
            return settings;
        }

        var (submissionA, submissionB) = (FreePort.GetTcpPort(), FreePort.GetTcpPort());
        // Data folders that do not exist yet: on PostgreSQL no database file creates them.
        var (folderA, folderB) = (Path.Combine(dataA.Path, "new"), Path.Combine(dataB.Path, "new"));
        var silos = await Task.WhenAll(
            SiloProcess.StartAsync(folderA, ClusterSettings(dataA, submissionA)),
            SiloProcess.StartAsync(folderB, ClusterSettings(dataB, submissionB)));
        await using var a = silos[0];
        await using var b = silos[1];
        var cluster = $"--Elemta:Cluster:ClusterId={clusterId}";

        // The initial admin exists once, whichever silo made it.
        var (code, output, error) = await CliAsync(b, null, "user", "list", cluster);
        Assert.True(code == 0, error);
        Assert.Matches(@"(?m)^admin\s+admin\s", output);
        Assert.DoesNotContain("Could not create the initial admin account", a.Output + b.Output, StringComparison.Ordinal);
        var passwordFiles = await Eventually.GetAsync(
            () => Task.FromResult(new[] { folderA, folderB }.Select(f => Path.Combine(f, "initial-admin-password")).Where(File.Exists).ToList()),
            files => files.Count > 0, Timeout, "the initial admin password file in a data folder that did not exist");
        Assert.Single(passwordFiles);

        // Made through silo A's gateway, used on silo B's submission port.
        (code, output, error) = await CliAsync(a, Password, "user", "add", "alice@example.org", "--password-stdin", cluster);
        Assert.True(code == 0, error);
        var sent = await SwaksAsync(submissionB, "alice@example.org", Password, "--tls", "--header", "Subject: AUTH on the other silo");
        Assert.True(sent.ExitCode == 0, sent.Output);
        Assert.Contains(" with ESMTPSA id ", Encoding.ASCII.GetString((await sink.WaitForMessageAsync(_ => true, Timeout)).Data), StringComparison.Ordinal);
        Assert.Contains("535 5.7.8", (await SwaksAsync(submissionA, "alice@example.org", "wrong-password", "--tls")).Output, StringComparison.Ordinal);

        // A key made through B is listed and revoked through A.
        (code, output, error) = await CliAsync(b, null, "apikey", "create", "--role", "viewer", "--name", "grafana", cluster);
        Assert.True(code == 0, error);
        var id = Auth.ApiKeys.IdOf(output.Split("key (shown once): ")[1].Trim())!;
        Assert.Matches($@"(?m)^{id}\s+viewer\s+active\s", (await CliAsync(a, null, "apikey", "list", cluster)).Output);
        Assert.Equal(0, (await CliAsync(a, null, "apikey", "revoke", id, cluster)).ExitCode);
        Assert.Matches($@"(?m)^{id}\s+viewer\s+revoked\s", (await CliAsync(b, null, "apikey", "list", cluster)).Output);

        // One audit log for the cluster, in the shared database.
        await using var database = new Elemta.Storage.Postgres.PostgresDatabase(connectionString);
        var audit = (await new AuditLog(database).ReadAsync(null, 100, CancellationToken.None)).Reverse().Select(r => $"{r.Action} {r.Subject}").ToList();
        Assert.Equal(["user.create admin", "user.create alice@example.org", $"apikey.create {id}", $"apikey.revoke {id}"], audit);
    }

    [Fact]
    public async Task Api_keys_are_shown_once_stored_hashed_listed_and_revocable()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, Settings(data));

        var (code, output, error) = await CliAsync(silo, null, "apikey", "create", "--role", "operator", "--name", "deploy-bot", "--expires", "30");
        Assert.True(code == 0, error);
        var key = output.Split("key (shown once): ")[1].Trim();
        var id = Auth.ApiKeys.IdOf(key)!;
        Assert.NotNull(id);

        (_, output, _) = await CliAsync(silo, null, "apikey", "list");
        Assert.Matches($@"(?m)^{id}\s+operator\s+active\s+\d{{4}}-\d\d-\d\d\s.*\sdeploy-bot", output);
        // The whole secret after "elemta_<id>_": it is base64url, so it may itself hold '_' (a tail after the last one
        // can be a single character that any listing contains).
        var secret = key[$"elemta_{id}_".Length..];
        Assert.DoesNotContain(secret, output, StringComparison.Ordinal);

        Assert.Equal(0, (await CliAsync(silo, null, "apikey", "revoke", id)).ExitCode);
        (_, output, _) = await CliAsync(silo, null, "apikey", "revoke", id);
        (code, output, error) = (await CliAsync(silo, null, "apikey", "list"));
        Assert.Matches($@"(?m)^{id}\s+operator\s+revoked\s", output);
        (code, _, error) = await CliAsync(silo, null, "apikey", "create", "--role", "root");
        Assert.Equal((2, "elemta: unknown role 'root' (admin, operator, viewer, sender)"), (code, error.Trim()));

        await silo.TerminateAsync(Timeout);
        Assert.False(ContainsBytes(data.Path, Encoding.ASCII.GetBytes(secret)), "the API key's secret is in the data folder");
        Assert.Equal(["apikey.create", "apikey.revoke"], (await ReadAuditAsync(data)).Where(a => a.Subject == id).Select(a => a.Action));
    }

    [Fact]
    public async Task No_password_appears_in_the_database_files()
    {
        using var data = new TempDirectory();
        string admin;
        await using (var silo = await SiloProcess.StartAsync(data.Path, Settings(data)))
        {
            Assert.Equal(0, (await CliAsync(silo, Password, "user", "add", "bob", "--password-stdin", "--role", "admin", "--role", "sender")).ExitCode);
            var file = Path.Combine(data.Path, "initial-admin-password");
            admin = (await Eventually.GetAsync(() => Task.FromResult(File.Exists(file) ? File.ReadAllText(file) : ""), t => t.EndsWith('\n'), Timeout, "the admin password")).Trim();
            // Proves the account is stored and usable, so the scan below looks at real data.
            using var smtp = new SmtpClient();
            await smtp.ConnectAsync("127.0.0.1", silo.SmtpPort, SecureSocketOptions.None);
            await smtp.AuthenticateAsync(new SaslMechanismScramSha256(new NetworkCredential("bob", Password)));
            await smtp.DisconnectAsync(true);
            await silo.TerminateAsync(Timeout);
        }

        var database = Directory.GetFiles(data.Path, "elemta.db*");
        Assert.NotEmpty(database);
        foreach (var secret in new[] { Password, admin })
        {
            foreach (var form in new[] { Encoding.UTF8.GetBytes(secret), Encoding.Unicode.GetBytes(secret), Encoding.ASCII.GetBytes(Convert.ToBase64String(Encoding.UTF8.GetBytes(secret))) })
            {
                Assert.All(database, path => Assert.True(File.ReadAllBytes(path).AsSpan().IndexOf(form) < 0, $"a password is in {path}"));
            }
        }
    }

    [Fact]
    public async Task A_lockout_reached_on_one_front_end_holds_on_another()
    {
        using var data = new TempDirectory();
        var settings = Settings(data);
        settings["Elemta:RateLimit:AuthFailuresPerUser:Capacity"] = "3";
        settings["Elemta:RateLimit:AuthFailuresPerUser:PerSecond"] = "0.001";
        await using var silo = await SiloProcess.StartAsync(data.Path, settings);
        Assert.Equal(0, (await CliAsync(silo, Password, "user", "add", "carol", "--password-stdin")).ExitCode);

        // A second SMTP front-end in this process: an Orleans client of the silo, with its own listener.
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Elemta:Smtp:Port"] = "0",
            ["Elemta:Smtp:ListenAddresses:0"] = "127.0.0.1",
            ["Elemta:Smtp:HostName"] = "frontend.elemta.test",
            ["Elemta:Auth:PasswordIterations"] = "10000",
        });
        builder.UseOrleansClient(client => client.UseLocalhostClustering(silo.GatewayPort, "elemta", "elemta"));
        builder.Services.AddElemtaStorage(new SqliteDatabase(SqliteDatabase.ConnectionStringFor(Path.Combine(data.Path, "elemta.db"))));
        builder.Services.AddElemtaSmtpServer(builder.Configuration);
        using var frontEnd = builder.Build();
        await frontEnd.StartAsync();
        try
        {
            var otherPort = frontEnd.Services.GetRequiredService<Elemta.Smtp.Server.SmtpListener>().EndPoints[0].Port;
            // The right password works on the second front-end before the lockout.
            await AuthenticateAsync(otherPort, "carol", Password);

            for (var i = 0; i < 3; i++)
            {
                var wrong = await Assert.ThrowsAsync<AuthenticationException>(() => AuthenticateAsync(silo.SmtpPort, "carol", "wrong password"));
                Assert.Contains("5.7.8", wrong.Message, StringComparison.Ordinal);
            }

            // The right password, on the other front-end, is now refused without being checked.
            var locked = await Assert.ThrowsAsync<AuthenticationException>(() => AuthenticateAsync(otherPort, "carol", Password));
            Assert.StartsWith("454: 4.7.0 Too many failed authentication attempts", locked.Message, StringComparison.Ordinal);
        }
        finally
        {
            await frontEnd.StopAsync();
        }
    }

    private static async Task AuthenticateAsync(int port, string user, string password)
    {
        using var smtp = new SmtpClient();
        await smtp.ConnectAsync("127.0.0.1", port, SecureSocketOptions.None);
        await smtp.AuthenticateAsync(new SaslMechanismCramMd5(new NetworkCredential(user, password)));
        await smtp.DisconnectAsync(true);
    }

    private static System.Text.RegularExpressions.MatchCollection Regex(string text, string literal) =>
        System.Text.RegularExpressions.Regex.Matches(text, System.Text.RegularExpressions.Regex.Escape(literal));

    private static bool ContainsBytes(string directory, byte[] needle) =>
        Directory.GetFiles(directory, "*", SearchOption.AllDirectories).Any(f => File.ReadAllBytes(f).AsSpan().IndexOf(needle) >= 0);

    private static async Task<List<AuditRecord>> ReadAuditAsync(TempDirectory data)
    {
        await using var database = new SqliteDatabase(SqliteDatabase.ConnectionStringFor(Path.Combine(data.Path, "elemta.db")));
        var records = await new AuditLog(database).ReadAsync(null, 100, CancellationToken.None);
        SqliteConnection.ClearAllPools();
        return [.. records.Reverse()];
    }

    /// <summary>Runs <c>elemta user|apikey …</c> against <paramref name="silo"/>'s gateway, with <paramref name="stdin"/> as its input.</summary>
    private static async Task<(int ExitCode, string Output, string Error)> CliAsync(SiloProcess silo, string? stdin, params string[] arguments)
    {
        var info = new ProcessStartInfo("dotnet") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var arg in new[] { SiloProcess.SiloAssembly }.Concat(arguments).Append($"--Elemta:Cluster:GatewayPort={silo.GatewayPort}").Append("--Elemta:Auth:PasswordIterations=10000"))
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment.Remove("DOTNET_ENVIRONMENT");
        using var process = Process.Start(info)!;
        if (stdin is not null)
        {
            await process.StandardInput.WriteLineAsync(stdin);
        }

        process.StandardInput.Close();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().WaitAsync(Timeout);
        return (process.ExitCode, await stdout, await stderr);
    }

    private static async Task<(int ExitCode, string Output)> SwaksAsync(int port, string from, string? password, params string[] more)
    {
        var info = new ProcessStartInfo("/usr/bin/swaks") { RedirectStandardOutput = true, RedirectStandardError = true };
        List<string> arguments = ["--server", $"127.0.0.1:{port}", "--from", from, "--to", "bob@example.net", "--helo", "swaks.test"];
        if (password is not null)
        {
            arguments.AddRange(["--auth", "PLAIN", "--auth-user", "alice@example.org", "--auth-password", password]);
        }

        foreach (var arg in arguments.Concat(more))
        {
            info.ArgumentList.Add(arg);
        }

        using var swaks = Process.Start(info)!;
        var stdout = swaks.StandardOutput.ReadToEndAsync();
        var stderr = swaks.StandardError.ReadToEndAsync();
        await swaks.WaitForExitAsync().WaitAsync(Timeout);
        return (swaks.ExitCode, await stdout + await stderr);
    }
}
