using System.Text;
using System.Text.RegularExpressions;
using Elemta.MailAuth.Dkim;

namespace Elemta.MailAuth.Tests.Dkim;

/// <summary><see cref="DkimKeyGenerator"/>: the key loads as a KeyFile, the zone line parses, and dkimpy verifies a message signed with it.</summary>
public sealed partial class DkimKeyGeneratorTests
{
    [Theory]
    [InlineData("rsa", null, 2048)]
    [InlineData("rsa", 1024, 1024)]
    [InlineData("ed25519", null, 256)]
    public async Task A_generated_key_signs_and_its_record_verifies_with_dkimpy(string keyType, int? bits, int expectedBits)
    {
        var generated = DkimKeyGenerator.Generate(keyType, bits);
        var loaded = DkimPrivateKey.Parse(generated.PrivateKeyPem, "generated");
        Assert.Equal((keyType, expectedBits), (loaded.KeyType, loaded.Bits));

        // The zone line as a DNS server would serve it: the quoted strings joined.
        var line = generated.ZoneLine("example.org.", "k1");
        Assert.StartsWith("k1._domainkey.example.org IN TXT \"v=DKIM1; k=" + keyType + "; p=", line, StringComparison.Ordinal);
        var strings = Quoted().Matches(line).Select(m => m.Groups[1].Value).ToList();
        Assert.All(strings, s => Assert.InRange(s.Length, 1, 255));
        var record = string.Concat(strings);
        Assert.Equal(generated.RecordText, record);
        Assert.Equal((keyType, expectedBits), (DkimPublicKey.Parse(record).KeyType, DkimPublicKey.Parse(record).Bits));

        var dir = Directory.CreateTempSubdirectory("elemta-dkim-gen-");
        try
        {
            var keyFile = Path.Combine(dir.FullName, "k1.pem");
            await File.WriteAllTextAsync(keyFile, generated.PrivateKeyPem);
            var signer = new DkimSigner(new DkimOptions { Signing = { ["example.org"] = new DkimSigningDomainOptions { Selector = "k1", KeyFile = keyFile } } });
            var message = DkimVerifierTests.Message();
            byte[] signed = [.. Encoding.ASCII.GetBytes((await signer.SignAsync(message, "example.org", CancellationToken.None))!), .. message];

            var (passed, log) = await DkimTools.DkimpyVerifyAsync(signed, "k1._domainkey.example.org", record);
            Assert.True(passed, log);

            // OpenSSL reads the key file as its own (PKCS#8, the seed alone for Ed25519, like `openssl genpkey`).
            var openssl = await DkimTools.RunAsync("openssl", ["pkey", "-in", keyFile, "-noout", "-text"]);
            Assert.True(openssl.ExitCode == 0, openssl.Error);
            Assert.StartsWith(keyType == "rsa" ? $"Private-Key: ({expectedBits} bit" : "ED25519 Private-Key:", openssl.Output, StringComparison.Ordinal);
            if (keyType == "ed25519")
            {
                // 48 bytes: version 0, the algorithm, the 32-byte seed; no public key attached (PKCS#8 v2).
                var der = Convert.FromBase64String(string.Concat(generated.PrivateKeyPem.Split('\n').Where(l => !l.StartsWith("-----", StringComparison.Ordinal))));
                Assert.Equal(48, der.Length);
            }
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    [Fact]
    public void Sizes_and_types_out_of_range_are_refused()
    {
        Assert.Contains("from 1024 to 4096", Assert.Throws<ArgumentException>(() => DkimKeyGenerator.Generate("rsa", 512)).Message, StringComparison.Ordinal);
        Assert.Contains("from 1024 to 4096", Assert.Throws<ArgumentException>(() => DkimKeyGenerator.Generate("rsa", 2047)).Message, StringComparison.Ordinal);
        Assert.Contains("--bits is for RSA only", Assert.Throws<ArgumentException>(() => DkimKeyGenerator.Generate("ed25519", 256)).Message, StringComparison.Ordinal);
        Assert.Contains("rsa or ed25519", Assert.Throws<ArgumentException>(() => DkimKeyGenerator.Generate("dsa")).Message, StringComparison.Ordinal);
    }

    [GeneratedRegex("\"([^\"]*)\"")]
    private static partial Regex Quoted();
}
