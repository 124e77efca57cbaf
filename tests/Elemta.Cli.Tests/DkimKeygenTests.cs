using System.Text.RegularExpressions;
using Elemta.Silo.Tests;

namespace Elemta.Cli.Tests;

/// <summary><c>elemta dkim keygen</c> as a process: the key file's mode, the record it prints, and dkimpy signing with the key and verifying against the record.</summary>
public sealed partial class DkimKeygenTests : IDisposable
{
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("elemta-keygen-");

    public void Dispose() => _dir.Delete(recursive: true);

    private static Task<CliResult> ElemtaAsync(params string[] arguments) =>
        ClusterFixture.RunAsync("dotnet", [SiloProcess.SiloAssembly, .. arguments], null, null);

    /// <summary>
    /// dkimpy (Debian's python3-dkim) signs a message with the PEM file and verifies it against the TXT record text;
    /// for Ed25519 it takes the raw 32-byte seed, the OCTET STRING inside the PKCS#8 privateKey (04 20 after 04 22).
    /// </summary>
    private static async Task<string> DkimpyRoundTripAsync(string keyFile, string algorithm, string name, string record)
    {
        var script = $$"""
            import base64, dkim, re
            pem = open('{{keyFile}}', 'rb').read()
            if '{{algorithm}}' == 'ed25519':
                der = base64.b64decode(b''.join(l for l in pem.splitlines() if not l.startswith(b'-----')))
                at = der.index(b'\x04\x22\x04\x20') + 4
                key, alg = base64.b64encode(der[at:at + 32]), b'ed25519-sha256'
            else:
                key, alg = pem, b'rsa-sha256'
            msg = b'From: a@example.org\r\nTo: b@example.net\r\nSubject: keygen\r\n\r\nHello\r\n'
            sig = dkim.sign(msg, b'{{name.Split('.')[0]}}', b'example.org', key, signature_algorithm=alg, canonicalize=(b'relaxed', b'relaxed'))
            dns = lambda qname, timeout=5: '{{record}}'.encode() if qname.decode().rstrip('.') == '{{name}}' else None
            print('pass' if dkim.verify(sig + msg, dnsfunc=dns) else 'fail')
            """;
        var result = await ClusterFixture.RunAsync("/usr/bin/python3", ["-c", script], null, null);
        Assert.True(result.ExitCode == 0, result.Error);
        return result.Output.Trim();
    }

    [Theory]
    [InlineData("rsa", new string[0], 2048)]
    [InlineData("rsa", new[] { "--bits", "3072" }, 3072)]
    [InlineData("ed25519", new[] { "--algorithm", "ed25519" }, 256)]
    public async Task Keygen_writes_a_0600_key_and_prints_a_record_that_dkimpy_verifies_against(string algorithm, string[] extra, int bits)
    {
        var keyFile = Path.Combine(_dir.FullName, $"{algorithm}{bits}.pem");

        var result = await ElemtaAsync(["dkim", "keygen", "example.org", "sel2026", .. extra, "--out", keyFile]);

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(keyFile));
        Assert.StartsWith("-----BEGIN PRIVATE KEY-----", await File.ReadAllTextAsync(keyFile), StringComparison.Ordinal);
        var lines = result.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal($"wrote {keyFile} ({(algorithm == "rsa" ? $"rsa {bits} bits" : "ed25519")}, mode 0600)", lines[0]);
        var zone = lines.Single(l => l.StartsWith("sel2026._domainkey.example.org IN TXT \"", StringComparison.Ordinal));
        var strings = Quoted().Matches(zone).Select(m => m.Groups[1].Value).ToList();
        Assert.All(strings, s => Assert.InRange(s.Length, 1, 255));
        Assert.True(algorithm == "ed25519" || strings.Count > 1, "a 2048-bit RSA record needs more than one string");
        var record = string.Concat(strings);
        Assert.StartsWith($"v=DKIM1; k={algorithm}; p=", record, StringComparison.Ordinal);

        Assert.Equal("pass", await DkimpyRoundTripAsync(keyFile, algorithm, "sel2026._domainkey.example.org", record));
    }

    [Fact]
    public async Task Keygen_json_names_the_file_and_the_record()
    {
        var keyFile = Path.Combine(_dir.FullName, "j.pem");

        var json = (await ElemtaAsync("dkim", "keygen", "example.org", "j1", "--algorithm", "ed25519", "--out", keyFile, "--json")).Json();

        Assert.Equal("ed25519", json.GetProperty("algorithm").GetString());
        Assert.Equal(keyFile, json.GetProperty("keyFile").GetString());
        Assert.Equal("j1._domainkey.example.org", json.GetProperty("name").GetString());
        Assert.Equal("pass", await DkimpyRoundTripAsync(keyFile, "ed25519", "j1._domainkey.example.org", json.GetProperty("record").GetString()!));
    }

    [Fact]
    public async Task Bad_arguments_and_an_existing_file_are_one_line_usage_errors()
    {
        var existing = Path.Combine(_dir.FullName, "taken.pem");
        await File.WriteAllTextAsync(existing, "keep me");

        var cases = new (string[] Args, string Error)[]
        {
            (["dkim", "keygen", "example.org", "s1", "--out", existing], $"elemta: {existing} exists; not overwriting a key (choose another --out or remove it)"),
            (["dkim", "keygen", "example.org", "s1", "--bits", "512", "--out", Path.Combine(_dir.FullName, "a.pem")], "elemta: an RSA key must have a multiple of 8 bits from 1024 to 4096 (2048 recommended), not 512"),
            (["dkim", "keygen", "example.org", "s1", "--algorithm", "ed25519", "--bits", "2048", "--out", Path.Combine(_dir.FullName, "b.pem")], "elemta: an Ed25519 key has a fixed size: --bits is for RSA only"),
            (["dkim", "keygen", "exa mple.org", "s1", "--out", Path.Combine(_dir.FullName, "c.pem")], "elemta: domain: 'exa mple.org' is not a domain name"),
            (["dkim", "keygen", "example.org", "s/1", "--out", Path.Combine(_dir.FullName, "d.pem")], "elemta: selector = 's/1' is not a DNS label sequence (letters, digits, hyphens, dots)"),
        };
        foreach (var (args, error) in cases)
        {
            var result = await ElemtaAsync(args);
            Assert.Equal((2, error), (result.ExitCode, result.Error.Trim()));
        }

        var algorithm = await ElemtaAsync("dkim", "keygen", "example.org", "s1", "--algorithm", "dsa");
        Assert.Equal(2, algorithm.ExitCode);
        Assert.StartsWith("elemta: ", algorithm.Error, StringComparison.Ordinal);
        Assert.Contains("dsa", algorithm.Error, StringComparison.Ordinal);
        Assert.Single(algorithm.Error.Trim().Split('\n'));
        Assert.Equal("keep me", await File.ReadAllTextAsync(existing));
        Assert.False(File.Exists(Path.Combine(_dir.FullName, "a.pem")));
    }

    [Fact]
    public async Task Keygen_has_help()
    {
        var result = await ElemtaAsync("dkim", "keygen", "--help");

        Assert.True(result.ExitCode == 0, result.Error);
        Assert.Contains("Usage:", result.Output, StringComparison.Ordinal);
        foreach (var word in new[] { "<domain>", "<selector>", "--algorithm", "--bits", "--out", "0600" })
        {
            Assert.Contains(word, result.Output, StringComparison.Ordinal);
        }
    }

    [GeneratedRegex("\"([^\"]*)\"")]
    private static partial Regex Quoted();
}
