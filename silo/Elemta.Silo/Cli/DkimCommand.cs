using System.CommandLine;
using Elemta.MailAuth.Dkim;

namespace Elemta.Silo.Cli;

/// <summary><c>elemta dkim keygen</c>: a DKIM signing key and the DNS record that publishes it.</summary>
internal static class DkimCommand
{
    public static Command Create(CliContext context)
    {
        var dkim = new Command("dkim", "DKIM signing keys (Elemta:Dkim, docs/mail-authentication.md).");
        var domain = new Argument<string>("domain") { Description = "The domain the key signs for (d=), e.g. example.org." };
        var selector = new Argument<string>("selector") { Description = "The selector (s=), e.g. 2026a: the record goes at <selector>._domainkey.<domain>." };
        var algorithm = new Option<string>("--algorithm")
        {
            Description = "rsa (rsa-sha256, read by every verifier; the default) or ed25519 (ed25519-sha256, RFC 8463; not every receiver verifies it yet).",
            DefaultValueFactory = _ => "rsa",
        };
        algorithm.AcceptOnlyFromAmong("rsa", "ed25519");
        var bits = new Option<int?>("--bits") { Description = "RSA key size, 1024 to 4096 (default 2048; RFC 8301 asks at least 1024)." };
        var output = new Option<string?>("--out") { Description = "Where to write the private key (PEM, mode 0600; never overwritten). Default: <selector>._domainkey.<domain>.pem here." };
        var keygen = new Command("keygen", "Generate a key pair: write the private key for Elemta:Dkim:Signing:<domain>:KeyFile and print the TXT record to publish.")
        {
            domain, selector, algorithm, bits, output,
        };
        keygen.SetAction((parse, ct) => KeygenAsync(context, parse.GetValue(domain)!, parse.GetValue(selector)!, parse.GetValue(algorithm)!,
            parse.GetValue(bits), parse.GetValue(output), parse.GetValue(context.Json)));
        dkim.Subcommands.Add(keygen);
        return dkim;
    }

    private static async Task<int> KeygenAsync(CliContext context, string domain, string selector, string algorithm, int? bits, string? output, bool json)
    {
        // The same rules the server applies to Elemta:Dkim:Signing, so a key made here is one it accepts.
        var check = new DkimOptionsValidator().Validate(null, new DkimOptions
        {
            Signing = { [domain] = new DkimSigningDomainOptions { Selector = selector, KeyFile = "-" } },
        });
        if (check.Failures?.FirstOrDefault(f => !f.Contains(":KeyFile", StringComparison.Ordinal)) is { } problem)
        {
            throw new UsageException(problem.Replace($"{DkimOptions.SectionName}:Signing:{domain}:Selector", "selector", StringComparison.Ordinal)
                .Replace($"{DkimOptions.SectionName}:Signing:{domain}", "domain", StringComparison.Ordinal).TrimEnd('.'));
        }

        DkimGeneratedKey key;
        try
        {
            key = DkimKeyGenerator.Generate(algorithm, bits);
        }
        catch (ArgumentException ex)
        {
            throw new UsageException(ex.Message.Split(" (Parameter", 2)[0]);
        }

        domain = domain.TrimEnd('.');
        var path = Path.GetFullPath(output ?? $"{selector}._domainkey.{domain}.pem");
        try
        {
            // Created with 0600 from the start: a private key must never exist readable by others, even briefly.
            var options = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write, Share = FileShare.None };
            if (!OperatingSystem.IsWindows())
            {
                options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
            }

            await using var stream = new FileStream(path, options);
            await using var writer = new StreamWriter(stream);
            await writer.WriteAsync(key.PrivateKeyPem).ConfigureAwait(false);
        }
        catch (IOException) when (File.Exists(path))
        {
            throw new UsageException($"{path} exists; not overwriting a key (choose another --out or remove it)");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UsageException($"cannot write {path}: {ex.Message}");
        }

        var zoneLine = key.ZoneLine(domain, selector);
        if (json)
        {
            await context.WriteJsonAsync(new
            {
                domain,
                selector,
                algorithm = key.KeyType,
                bits = key.Bits,
                keyFile = path,
                name = $"{selector}._domainkey.{domain}",
                record = key.RecordText,
                zoneLine,
            }).ConfigureAwait(false);
            return ExitCodes.Ok;
        }

        await context.Out.WriteLineAsync($"wrote {path} ({key.KeyType}{(key.KeyType == "rsa" ? $" {key.Bits} bits" : string.Empty)}, mode 0600)").ConfigureAwait(false);
        await context.Out.WriteLineAsync($"configure: Elemta:Dkim:Signing:{domain}:Selector={selector}  Elemta:Dkim:Signing:{domain}:KeyFile={path}").ConfigureAwait(false);
        await context.Out.WriteLineAsync("publish this DNS record:").ConfigureAwait(false);
        await context.Out.WriteLineAsync(zoneLine).ConfigureAwait(false);
        return ExitCodes.Ok;
    }
}
