using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Generators;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.OpenSsl;
using Org.BouncyCastle.Asn1.Pkcs;
using Org.BouncyCastle.Pkcs;
using Org.BouncyCastle.Security;

namespace Elemta.MailAuth.Tests.Dkim;

/// <summary>A key pair made for one test, in the forms the signers and the key record need.</summary>
/// <param name="KeyType"><c>rsa</c> or <c>ed25519</c>.</param>
/// <param name="PrivatePem">PKCS#8 PEM (what Elemta's KeyFile and dkimpy's RSA signing take).</param>
/// <param name="PublicBase64">The key record's <c>p=</c>.</param>
/// <param name="DkimpyPrivate">What dkimpy's dkim.sign takes as the private key: the PEM for RSA, the base64 seed for Ed25519.</param>
internal sealed record DkimTestKey(string KeyType, string PrivatePem, string PublicBase64, string DkimpyPrivate)
{
    public string Record => $"v=DKIM1; k={KeyType}; p={PublicBase64}";

    public static DkimTestKey Rsa(int bits = 2048)
    {
        if (bits < 1024)
        {
            // OpenSSL refuses to make keys this short; BouncyCastle still does.
            var generator = new RsaKeyPairGenerator();
            generator.Init(new RsaKeyGenerationParameters(Org.BouncyCastle.Math.BigInteger.ValueOf(65537), new SecureRandom(), bits, 80));
            var pair = generator.GenerateKeyPair();
            var pem = Pem(PrivateKeyInfoFactory.CreatePrivateKeyInfo(pair.Private));
            var spki = Org.BouncyCastle.X509.SubjectPublicKeyInfoFactory.CreateSubjectPublicKeyInfo(pair.Public).GetDerEncoded();
            return new DkimTestKey("rsa", pem, Convert.ToBase64String(spki), pem);
        }

        using var rsa = System.Security.Cryptography.RSA.Create(bits);
        var privatePem = rsa.ExportPkcs8PrivateKeyPem();
        return new DkimTestKey("rsa", privatePem, Convert.ToBase64String(rsa.ExportSubjectPublicKeyInfo()), privatePem);
    }

    public static DkimTestKey Ed25519()
    {
        var generator = new Ed25519KeyPairGenerator();
        generator.Init(new Ed25519KeyGenerationParameters(new SecureRandom()));
        var pair = generator.GenerateKeyPair();
        var priv = (Ed25519PrivateKeyParameters)pair.Private;
        var pub = (Ed25519PublicKeyParameters)pair.Public;
        return new DkimTestKey("ed25519", Pem(PrivateKeyInfoFactory.CreatePrivateKeyInfo(priv)),
            Convert.ToBase64String(pub.GetEncoded()), Convert.ToBase64String(priv.GetEncoded()));
    }

    /// <summary>The RSA key as traditional PKCS#1 (<c>RSA PRIVATE KEY</c>).</summary>
    public string Pkcs1Pem()
    {
        using var rsa = System.Security.Cryptography.RSA.Create();
        rsa.ImportFromPem(PrivatePem);
        return rsa.ExportRSAPrivateKeyPem();
    }

    private static string Pem(PrivateKeyInfo info)
    {
        using var text = new StringWriter();
        var writer = new PemWriter(text);
        writer.WriteObject(new Org.BouncyCastle.Utilities.IO.Pem.PemObject("PRIVATE KEY", info.GetDerEncoded()));
        writer.Writer.Flush();
        return text.ToString();
    }
}

/// <summary>The independent DKIM implementations the tests check against: dkimpy and OpenDKIM, as installed by tests/run.sh.</summary>
internal static class DkimTools
{
    public const string Python = "/usr/bin/python3";

    /// <summary>Runs a program, feeding <paramref name="stdin"/>; returns its exit code and output.</summary>
    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(string program, IEnumerable<string> arguments, byte[]? stdin = null)
    {
        var info = new System.Diagnostics.ProcessStartInfo(program)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var argument in arguments)
        {
            info.ArgumentList.Add(argument);
        }

        using var process = System.Diagnostics.Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var output = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var error = process.StandardError.ReadToEndAsync(timeout.Token);
        if (stdin is not null)
        {
            await process.StandardInput.BaseStream.WriteAsync(stdin, timeout.Token);
        }

        process.StandardInput.Close();
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await output, await error);
    }

    /// <summary>Signs with dkimpy's dkim.sign and returns the message with the signature in front.</summary>
    public static async Task<byte[]> DkimpySignAsync(byte[] message, DkimTestKey key, string domain, string selector,
        string algorithm = "", bool length = false, string headers = "from,to,subject,date", string canonicalization = "relaxed/relaxed")
    {
        var dir = Directory.CreateTempSubdirectory("elemta-dkimpy-");
        try
        {
            var keyFile = Path.Combine(dir.FullName, "key");
            await File.WriteAllTextAsync(keyFile, key.DkimpyPrivate);
            if (algorithm.Length == 0 && key.KeyType == "ed25519")
            {
                // dkimpy signs rsa-sha256 unless told otherwise, whatever the key.
                algorithm = "ed25519-sha256";
            }

            var (header, body) = canonicalization.Split('/') is [var h, var b] ? (h, b) : (canonicalization, canonicalization);
            var script = $$"""
                import sys, dkim, base64
                msg = sys.stdin.buffer.read()
                key = open({{Quote(keyFile)}}, 'rb').read()
                kwargs = dict(canonicalize=(b'{{header}}', b'{{body}}'), include_headers=[h.encode() for h in '{{headers}}'.split(',')], length={{(length ? "True" : "False")}})
                if '{{algorithm}}':
                    kwargs['signature_algorithm'] = b'{{algorithm}}'
                sig = dkim.sign(msg, b'{{selector}}', b'{{domain}}', key, **kwargs)
                # base64, so that 8-bit bytes survive the trip through a .NET string.
                sys.stdout.write(base64.b64encode(sig + msg).decode())
                """;
            var (exit, output, error) = await RunAsync(Python, ["-c", script], message);
            Assert.True(exit == 0, $"dkimpy could not sign: {error}");
            return Convert.FromBase64String(output);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>Verifies with dkimpy's dkim.verify, the key record given by a dnsfunc: true when it passes.</summary>
    public static async Task<(bool Passed, string Log)> DkimpyVerifyAsync(byte[] message, string keyName, string record)
    {
        var script = $$"""
            import sys, logging, io, dkim
            log = io.StringIO()
            logger = logging.getLogger('dkim'); logger.addHandler(logging.StreamHandler(log)); logger.setLevel(logging.DEBUG)
            def dnsfunc(name, timeout=5):
                return {{Quote(record)}}.encode() if name.decode().rstrip('.') == {{Quote(keyName)}} else None
            ok = dkim.verify(sys.stdin.buffer.read(), logger=logger, dnsfunc=dnsfunc)
            print('pass' if ok else 'fail'); print(log.getvalue())
            """;
        var (exit, output, error) = await RunAsync(Python, ["-c", script], message);
        Assert.True(exit == 0, $"dkimpy crashed: {error}");
        return (output.StartsWith("pass", StringComparison.Ordinal), output + error);
    }

    /// <summary>
    /// Verifies with OpenDKIM's filter in test mode (<c>opendkim -t</c>), the key record read from a TestPublicKeys
    /// file instead of DNS; returns the Authentication-Results it would add and its summary line.
    /// </summary>
    public static async Task<string> OpenDkimVerifyAsync(byte[] message, string keyName, string record)
    {
        var dir = Directory.CreateTempSubdirectory("elemta-opendkim-");
        try
        {
            var keys = Path.Combine(dir.FullName, "keys");
            await File.WriteAllTextAsync(keys, $"{keyName} {record}\n");
            var conf = Path.Combine(dir.FullName, "opendkim.conf");
            await File.WriteAllTextAsync(conf, $"TestPublicKeys {keys}\nMode v\nSyslog no\nTemporaryDirectory {dir.FullName}\n");
            var file = Path.Combine(dir.FullName, "message.eml");
            await File.WriteAllBytesAsync(file, message);
            var (_, output, error) = await RunAsync("/usr/sbin/opendkim", ["-x", conf, "-t", file, "-vv"]);
            return output + error;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static string Quote(string text) => "'" + text.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("'", "\\'", StringComparison.Ordinal) + "'";
}
