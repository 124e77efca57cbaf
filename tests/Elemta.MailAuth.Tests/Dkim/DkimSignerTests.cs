using System.Text;
using Elemta.MailAuth.Dkim;
using Elemta.Testing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace Elemta.MailAuth.Tests.Dkim;

/// <summary>
/// <see cref="DkimSigner"/>: what it signs must verify with dkimpy and OpenDKIM (independent implementations) and with
/// Elemta's own verifier; its options are refused at start with one line naming the bad key.
/// </summary>
public sealed class DkimSignerTests : IDisposable
{
    private const string Domain = "example.org";
    private readonly DirectoryInfo _dir = Directory.CreateTempSubdirectory("elemta-dkim-");

    public void Dispose() => _dir.Delete(recursive: true);

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir.FullName, name);
        File.WriteAllText(path, text);
        return path;
    }

    private DkimSigner Signer(DkimTestKey key, string selector = "s1", IList<string>? headers = null) =>
        new(new DkimOptions
        {
            Signing = { [Domain] = new DkimSigningDomainOptions { Selector = selector, KeyFile = Write($"{selector}.pem", key.PrivatePem) } },
            Headers = headers ?? [],
        });

    private static CancellationToken Token() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private static async Task<byte[]> SignAsync(DkimSigner signer, byte[] message) =>
        [.. Encoding.ASCII.GetBytes((await signer.SignAsync(message, Domain, Token()))!), .. message];

    private static byte[] Multipart() => Encoding.ASCII.GetBytes(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>, carol@example.net\r\nCc: dave@example.net\r\nSubject: =?UTF-8?Q?R=C3=A9sum=C3=A9?=\r\n" +
        "Date: Thu, 03 Dec 2026 16:00:00 +0000\r\nMessage-ID: <2@example.org>\r\nMIME-Version: 1.0\r\n" +
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\npreamble\r\n--b1\r\nContent-Type: text/plain; charset=utf-8\r\n" +
        "Content-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9   with  spaces   \r\n--b1\r\nContent-Type: application/octet-stream\r\n" +
        "Content-Transfer-Encoding: base64\r\n\r\nAAECAwQFBgcICQ==\r\n--b1--\r\nepilogue\r\n\r\n\r\n");

    [Theory]
    [InlineData("rsa")]
    [InlineData("ed25519")]
    public async Task What_Elemta_signs_verifies_with_dkimpy(string keyType)
    {
        var key = keyType == "rsa" ? DkimTestKey.Rsa() : DkimTestKey.Ed25519();
        var signer = Signer(key);

        foreach (var message in new[] { DkimVerifierTests.Message(), Multipart() })
        {
            var signed = await SignAsync(signer, message);
            var (passed, log) = await DkimTools.DkimpyVerifyAsync(signed, $"s1._domainkey.{Domain}", key.Record);
            Assert.True(passed, log);
            Assert.Contains(keyType == "rsa" ? "a=rsa-sha256" : "a=ed25519-sha256", Encoding.ASCII.GetString(signed), StringComparison.Ordinal);
        }
    }

    [Theory]
    [InlineData("rsa")]
    [InlineData("ed25519")]
    public async Task What_Elemta_signs_verifies_with_OpenDKIM(string keyType)
    {
        var key = keyType == "rsa" ? DkimTestKey.Rsa() : DkimTestKey.Ed25519();
        var signer = Signer(key);

        foreach (var message in new[] { DkimVerifierTests.Message(), Multipart() })
        {
            var result = await DkimTools.OpenDkimVerifyAsync(await SignAsync(signer, message), $"s1._domainkey.{Domain}", key.Record);
            // OpenDKIM 2.11 reports the size of RSA keys only.
            Assert.Contains($"dkim=pass {(keyType == "rsa" ? "(2048-bit key) " : string.Empty)}header.d={Domain}", result, StringComparison.Ordinal);
            Assert.Contains($"header.a={(keyType == "rsa" ? "rsa-sha256" : "ed25519-sha256")}", result, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task OpenDKIM_catches_a_tampered_Elemta_signature()
    {
        var key = DkimTestKey.Rsa();
        var signed = Encoding.ASCII.GetString(await SignAsync(Signer(key), DkimVerifierTests.Message()));

        var result = await DkimTools.OpenDkimVerifyAsync(Encoding.ASCII.GetBytes(signed.Replace("Hello Bob", "Hello Eve", StringComparison.Ordinal)), $"s1._domainkey.{Domain}", key.Record);

        Assert.Contains("dkim=fail", result, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("rsa")]
    [InlineData("ed25519")]
    public async Task What_Elemta_signs_passes_its_own_verifier_over_DNS(string keyType)
    {
        var key = keyType == "rsa" ? DkimTestKey.Rsa() : DkimTestKey.Ed25519();
        await using var dns = LoopbackDnsServer.Start();
        dns.AddTxt($"s1._domainkey.{Domain}", key.Record);
        var options = new DkimVerificationOptions { Servers = [dns.EndPoint.ToString()], Timeout = TimeSpan.FromSeconds(4), Retries = 0 };
        var verifier = new DkimVerifier(new DnsDkimKeyLocator(options), options);

        var result = Assert.Single(await verifier.VerifyAsync(await SignAsync(Signer(key), Multipart()), Token()));

        Assert.Equal(DkimResultKind.Pass, result.Kind);
    }

    /// <summary>
    /// Messages whose bytes a MIME parser might not write back as it read them: MimeKit signs and verifies its parsed
    /// form, while signatures cover the raw bytes, so the two must hash alike.
    /// </summary>
    public static TheoryData<string, string> AwkwardMessages => new()
    {
        { "8bit", "From: a@example.org\r\nTo: b@example.net\r\nSubject: caf\u00e9\r\n\r\nR\u00e9sum\u00e9 \u2014 na\u00efve\r\n" },
        { "no final CRLF", "From: a@example.org\r\nSubject: x\r\n\r\nno newline at the end" },
        { "empty body", "From: a@example.org\r\nSubject: x\r\n\r\n" },
        { "trailing blank lines", "From: a@example.org\r\nSubject: x\r\n\r\nbody\r\n\r\n\r\n\r\n" },
        { "folded and odd headers", "From:a@example.org\r\nTo:   \"Bob, Jr.\" <b@example.net>,\r\n\tcarol@example.net\r\nSubject:\r\n  folded   subject\r\nX-Empty:\r\nX-Tab:\tvalue\t\r\n\r\nbody\r\n" },
        { "nested message/rfc822", "From: a@example.org\r\nSubject: fwd\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n--XX\r\nContent-Type: message/rfc822\r\n\r\nFrom: c@example.com\r\nSubject: inner\r\n\r\ninner body\r\n--XX--\r\n" },
        { "dot and From lines", "From: a@example.org\r\nSubject: x\r\n\r\n.leading dot\r\nFrom the start\r\n>quoted\r\n" },
        { "two From fields", "From: a@example.org\r\nFrom: b@example.org\r\nSubject: x\r\n\r\nbody\r\n" },
    };

    [Theory]
    [MemberData(nameof(AwkwardMessages))]
    public async Task Awkward_messages_signed_by_Elemta_verify_with_dkimpy(string name, string text)
    {
        var key = DkimTestKey.Rsa();
        var message = Encoding.UTF8.GetBytes(text);

        var (passed, log) = await DkimTools.DkimpyVerifyAsync(await SignAsync(Signer(key), message), $"s1._domainkey.{Domain}", key.Record);

        Assert.True(passed, $"{name}: {log}");
    }

    [Fact]
    public async Task From_To_and_Subject_are_over_signed_so_an_added_one_breaks_the_signature()
    {
        var key = DkimTestKey.Rsa();
        var header = (await Signer(key).SignAsync(DkimVerifierTests.Message(), Domain, Token()))!;
        var tags = header[(header.IndexOf(':', StringComparison.Ordinal) + 1)..].Replace("\r\n", string.Empty, StringComparison.Ordinal);
        var h = tags.Split(';').Select(t => t.Trim()).Single(t => t.StartsWith("h=", StringComparison.Ordinal))[2..].Replace(" ", string.Empty, StringComparison.Ordinal).Replace("\t", string.Empty, StringComparison.Ordinal);

        // One more than the message holds for the over-signed fields; Cc is not there and not over-signed.
        Assert.Equal("from:from:subject:subject:date:to:to:message-id", h);
        Assert.Contains("c=relaxed/relaxed", tags, StringComparison.Ordinal);
        Assert.EndsWith("\r\n", header, StringComparison.Ordinal);
        Assert.DoesNotContain("\n", header.Replace("\r\n", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);

        var added = Encoding.ASCII.GetBytes(header + "Subject: You won a prize\r\n" + Encoding.ASCII.GetString(DkimVerifierTests.Message()));
        var (passed, _) = await DkimTools.DkimpyVerifyAsync(added, $"s1._domainkey.{Domain}", key.Record);
        Assert.False(passed);
    }

    [Fact]
    public async Task A_configured_header_list_is_used()
    {
        var key = DkimTestKey.Rsa();
        var header = (await Signer(key, headers: ["From", "Date"]).SignAsync(DkimVerifierTests.Message(), Domain, Token()))!;

        Assert.Contains("h=from:from:date:to:to:subject:subject;", header.Replace("\r\n", string.Empty, StringComparison.Ordinal).Replace(" ", string.Empty, StringComparison.Ordinal).Replace("\t", string.Empty, StringComparison.Ordinal), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_traditional_PKCS1_RSA_key_signs()
    {
        var key = DkimTestKey.Rsa();
        var path = Write("pkcs1.pem", key.Pkcs1Pem());
        Assert.Contains("BEGIN RSA PRIVATE KEY", File.ReadAllText(path), StringComparison.Ordinal);
        var signer = new DkimSigner(new DkimOptions { Signing = { [Domain] = new DkimSigningDomainOptions { Selector = "old", KeyFile = path } } });

        var signed = await SignAsync(signer, DkimVerifierTests.Message());

        Assert.True((await DkimTools.DkimpyVerifyAsync(signed, $"old._domainkey.{Domain}", key.Record)).Passed);
    }

    [Fact]
    public async Task A_key_made_by_opendkim_genkey_signs_and_verifies_against_the_record_it_wrote()
    {
        var made = await DkimTools.RunAsync("/usr/sbin/opendkim-genkey", ["-D", _dir.FullName, "-d", Domain, "-s", "gen", "-b", "2048"]);
        Assert.True(made.ExitCode == 0, made.Error);
        // gen.txt is a zone file line: ( "v=DKIM1; h=sha256; k=rsa; " "p=…" "…" ) — the quoted strings joined.
        var record = string.Concat(System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(Path.Combine(_dir.FullName, "gen.txt")), "\"([^\"]*)\"").Select(m => m.Groups[1].Value));
        Assert.Contains("h=sha256", record, StringComparison.Ordinal);
        var signer = new DkimSigner(new DkimOptions { Signing = { [Domain] = new DkimSigningDomainOptions { Selector = "gen", KeyFile = Path.Combine(_dir.FullName, "gen.private") } } });
        var signed = await SignAsync(signer, Multipart());

        Assert.Contains("dkim=pass (2048-bit key)", await DkimTools.OpenDkimVerifyAsync(signed, $"gen._domainkey.{Domain}", record), StringComparison.Ordinal);

        await using var dns = LoopbackDnsServer.Start();
        dns.AddTxt($"gen._domainkey.{Domain}", record);
        var options = new DkimVerificationOptions { Servers = [dns.EndPoint.ToString()], Timeout = TimeSpan.FromSeconds(4), Retries = 0 };
        Assert.Equal(DkimResultKind.Pass, Assert.Single(await new DkimVerifier(new DnsDkimKeyLocator(options), options).VerifyAsync(signed, Token())).Kind);
    }

    [Fact]
    public async Task Signing_for_the_author_uses_the_From_domain_or_its_closest_parent_with_a_key()
    {
        var key = DkimTestKey.Ed25519();
        var signer = Signer(key);
        byte[] From(string address) => Encoding.ASCII.GetBytes($"From: Someone <{address}>\r\nTo: b@example.net\r\nSubject: s\r\n\r\nbody\r\n");

        Assert.Equal(Domain, signer.SigningDomainFor("news.eu.EXAMPLE.org."));
        Assert.Null(signer.SigningDomainFor("example.org.evil.test"));

        foreach (var author in new[] { "alice@example.org", "news@news.example.org" })
        {
            var message = From(author);
            var field = await signer.SignAsync(message, Token());
            Assert.NotNull(field);
            Assert.Contains($"d={Domain};", field, StringComparison.Ordinal);
            Assert.True((await DkimTools.DkimpyVerifyAsync([.. Encoding.ASCII.GetBytes(field), .. message], $"s1._domainkey.{Domain}", key.Record)).Passed, author);
        }

        Assert.Null(await signer.SignAsync(From("mallory@example.net"), Token()));
        Assert.Null(await signer.SignAsync(Encoding.ASCII.GetBytes("Subject: no author\r\n\r\nbody\r\n"), Token()));
    }

    [Fact]
    public async Task A_domain_without_a_key_is_not_signed()
    {
        var signer = Signer(DkimTestKey.Ed25519());

        Assert.True(signer.CanSign("EXAMPLE.ORG"));
        Assert.False(signer.CanSign("example.net"));
        Assert.Null(await signer.SignAsync(DkimVerifierTests.Message(), "example.net", Token()));
    }

    [Fact]
    public void Bad_key_files_and_settings_are_refused_each_with_its_key_named()
    {
        using var ec = System.Security.Cryptography.ECDsa.Create();
        using var rsa = System.Security.Cryptography.RSA.Create(2048);
        var options = new DkimOptions
        {
            Signing =
            {
                ["missing.example"] = new DkimSigningDomainOptions { Selector = "s", KeyFile = Path.Combine(_dir.FullName, "nope.pem") },
                ["ec.example"] = new DkimSigningDomainOptions { Selector = "s", KeyFile = Write("ec.pem", ec.ExportPkcs8PrivateKeyPem()) },
                ["public.example"] = new DkimSigningDomainOptions { Selector = "s", KeyFile = Write("pub.pem", rsa.ExportSubjectPublicKeyInfoPem()) },
                ["short.example"] = new DkimSigningDomainOptions { Selector = "s", KeyFile = Write("short.pem", DkimTestKey.Rsa(512).PrivatePem) },
                ["text.example"] = new DkimSigningDomainOptions { Selector = "s", KeyFile = Write("text.pem", "hello") },
                ["dir.example"] = new DkimSigningDomainOptions { Selector = "s", KeyFile = _dir.FullName },
                ["noselector.example"] = new DkimSigningDomainOptions { KeyFile = Write("ok.pem", DkimTestKey.Ed25519().PrivatePem) },
            },
            Headers = ["To", "Received"],
            Verification = { Servers = ["dns.example"], Timeout = TimeSpan.Zero },
        };

        var result = new DkimOptionsValidator().Validate(null, options);

        Assert.True(result.Failed);
        var failures = result.Failures!.ToList();
        Assert.Contains($"Elemta:Dkim:Signing:missing.example:KeyFile: {Path.Combine(_dir.FullName, "nope.pem")} does not exist.", failures);
        Assert.Contains(failures, f => f.StartsWith("Elemta:Dkim:Signing:ec.example:KeyFile: ", StringComparison.Ordinal) && f.Contains("holds a key of type EC;", StringComparison.Ordinal) && f.Contains("RSA or Ed25519", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Elemta:Dkim:Signing:public.example:KeyFile: ", StringComparison.Ordinal) && f.Contains("is a public key", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Elemta:Dkim:Signing:short.example:KeyFile: ", StringComparison.Ordinal) && f.Contains("512 bits", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("Elemta:Dkim:Signing:text.example:KeyFile: ", StringComparison.Ordinal) && f.Contains("holds no PEM block", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith($"Elemta:Dkim:Signing:dir.example:KeyFile: {_dir.FullName} cannot be read: ", StringComparison.Ordinal));
        Assert.Contains("Elemta:Dkim:Signing:noselector.example:Selector is missing.", failures);
        Assert.Contains("Elemta:Dkim:Headers must include From (RFC 6376 §5.4).", failures);
        Assert.Contains("Elemta:Dkim:Headers: 'Received' cannot be signed (relays add or change it).", failures);
        Assert.Contains("Elemta:Dkim:Verification:Servers: 'dns.example' is not an address or address:port (127.0.0.1:53, [::1]:53).", failures);
        Assert.Contains("Elemta:Dkim:Verification:Timeout = 00:00:00 must be positive.", failures);
        Assert.All(failures, f => Assert.DoesNotContain('\n', f));
    }

    [Fact]
    public void The_options_are_bound_from_configuration_and_validated_at_start()
    {
        var good = Write("good.pem", DkimTestKey.Ed25519().PrivatePem);
        IServiceProvider Build(string keyFile) => new ServiceCollection()
            .AddElemtaDkim(new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
            {
                ["Elemta:Dkim:Signing:example.org:Selector"] = "s1",
                ["Elemta:Dkim:Signing:example.org:KeyFile"] = keyFile,
                ["Elemta:Dkim:Headers:0"] = "From",
                ["Elemta:Dkim:Headers:1"] = "Subject",
                ["Elemta:Dkim:Verification:UnsignedBodyContent"] = "Fail",
            }).Build())
            .BuildServiceProvider();

        var services = Build(good);
        Assert.True(services.GetRequiredService<DkimSigner>().CanSign("example.org"));
        Assert.Equal(["From", "Subject"], services.GetRequiredService<IOptions<DkimOptions>>().Value.EffectiveHeaders());
        Assert.Equal(DkimUnsignedContentPolicy.Fail, services.GetRequiredService<IOptions<DkimOptions>>().Value.Verification.UnsignedBodyContent);
        Assert.NotNull(services.GetRequiredService<DkimVerifier>());

        var failure = Assert.Throws<OptionsValidationException>(() => Build(Path.Combine(_dir.FullName, "absent.pem")).GetRequiredService<IOptions<DkimOptions>>().Value);
        Assert.Equal($"Elemta:Dkim:Signing:example.org:KeyFile: {Path.Combine(_dir.FullName, "absent.pem")} does not exist.", Assert.Single(failure.Failures));
    }
}
