namespace Elemta.Silo.Tests;

/// <summary><c>Elemta:Dkim</c> is checked before the silo starts: a bad signing key is one line naming its key.</summary>
public sealed class DkimConfigurationTests
{
    [Fact]
    public async Task A_missing_signing_key_file_stops_the_start_with_one_line_naming_the_key()
    {
        using var data = new TempDirectory();
        var missing = Path.Combine(data.Path, "dkim.pem");
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0",
            "--Elemta:Dkim:Signing:example.org:Selector=s1", $"--Elemta:Dkim:Signing:example.org:KeyFile={missing}");

        Assert.Equal(2, code);
        Assert.Equal($"elemta: configuration error: Elemta:Dkim:Signing:example.org:KeyFile: {missing} does not exist.", output.Trim());
    }

    [Fact]
    public async Task A_key_file_of_the_wrong_type_stops_the_start()
    {
        using var data = new TempDirectory();
        using var ec = System.Security.Cryptography.ECDsa.Create();
        var keyFile = Path.Combine(data.Path, "ec.pem");
        await File.WriteAllTextAsync(keyFile, ec.ExportPkcs8PrivateKeyPem());
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0",
            "--Elemta:Dkim:Signing:example.org:Selector=s1", $"--Elemta:Dkim:Signing:example.org:KeyFile={keyFile}");

        Assert.Equal(2, code);
        Assert.Equal($"elemta: configuration error: Elemta:Dkim:Signing:example.org:KeyFile: {keyFile} holds a key of type EC; DKIM signs with RSA or Ed25519.", output.Trim());
    }

    [Fact]
    public async Task A_misspelt_dkim_key_is_refused_with_the_keys_that_exist()
    {
        using var data = new TempDirectory();
        var (code, output) = await SiloProcess.RunToExitAsync("--data", data.Path, "--port", "0", "--Elemta:Dkim:Signing:example.org:KeyPath=/etc/elemta/dkim.pem");

        Assert.Equal(2, code);
        Assert.Equal("elemta: configuration error: unknown setting Elemta:Dkim:Signing:example.org:KeyPath (Elemta:Dkim:Signing:example.org has KeyFile, Selector)", output.Trim());
    }

    [Fact]
    public async Task A_usable_signing_key_lets_the_silo_start_and_is_logged()
    {
        using var data = new TempDirectory();
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var keyFile = Path.Combine(data.Path, "dkim.pem");
        await File.WriteAllTextAsync(keyFile, rsa.ExportRSAPrivateKeyPem());

        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Dkim:Signing:example.org:Selector"] = "s1",
            ["Elemta:Dkim:Signing:example.org:KeyFile"] = keyFile,
        });

        // Logged in the same started callback as the HTTP line the start waits for, and before it.
        Assert.Contains($"DKIM signing key for example.org: selector s1, {keyFile}", silo.Output, StringComparison.Ordinal);
    }
}
