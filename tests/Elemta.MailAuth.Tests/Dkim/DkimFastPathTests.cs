using System.Security.Cryptography;
using System.Text;
using Elemta.MailAuth.Dkim;
using Elemta.Testing;

namespace Elemta.MailAuth.Tests.Dkim;

/// <summary>
/// The verifier's own canonicalization and .NET RSA check: tampering that each part must catch, the l= rules, and a
/// differential test against MimeKit's verifier (the implementation it replaced) over messages dkimpy signed with
/// every canonicalization, over-signed header lists and l=, as signed and after typical changes in transit.
/// </summary>
public sealed class DkimFastPathTests : IAsyncLifetime
{
    private const string Domain = "example.org";
    private static readonly DkimTestKey RsaKey = DkimTestKey.Rsa();
    private static readonly DkimTestKey Ed25519Key = DkimTestKey.Ed25519();
    private LoopbackDnsServer _dns = null!;
    private DnsDkimKeyLocator _keys = null!;
    private DkimVerifier _verifier = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        _dns.AddTxt($"fast._domainkey.{Domain}", RsaKey.Record);
        _dns.AddTxt($"fasted._domainkey.{Domain}", Ed25519Key.Record);
        var options = new DkimVerificationOptions { Servers = [_dns.EndPoint.ToString()], Timeout = TimeSpan.FromSeconds(4), Retries = 0 };
        _keys = new DnsDkimKeyLocator(options);
        _verifier = new DkimVerifier(_keys, options);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _dns.DisposeAsync();

    private static CancellationToken Token() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private async Task<DkimResult> VerifyAsync(string message) =>
        Assert.Single(await _verifier.VerifyAsync(Encoding.Latin1.GetBytes(message), Token()));

    private static async Task<string> SignAsync(string message, string canonicalization = "relaxed/relaxed", string headers = "from,to,subject,date", bool length = false, bool ed25519 = false) =>
        Encoding.Latin1.GetString(await DkimTools.DkimpySignAsync(Encoding.Latin1.GetBytes(message), ed25519 ? Ed25519Key : RsaKey, Domain, ed25519 ? "fasted" : "fast",
            headers: headers, canonicalization: canonicalization, length: length));

    /// <summary>The test message of <see cref="DkimVerifierTests"/> as text.</summary>
    private static string Text(string subject = "Quarterly figures", string body = "Hello Bob,\r\n\r\nthe figures are attached.\r\n") =>
        Encoding.ASCII.GetString(DkimVerifierTests.Message(subject, body));

    /// <summary>The value of tag <paramref name="tag"/> in the DKIM-Signature, as written (folding included).</summary>
    private static string Tag(string message, string tag) =>
        System.Text.RegularExpressions.Regex.Match(message, $@"[;\s]{tag}=(?<v>[A-Za-z0-9+/=\s]+?)(;|\r\n(?![ \t]))").Groups["v"].Value;

    [Theory]
    [InlineData("simple/simple")]
    [InlineData("relaxed/relaxed")]
    public async Task A_wrong_bh_is_a_body_hash_failure_and_a_wrong_b_a_signature_failure(string canonicalization)
    {
        var signed = await SignAsync(Text(), canonicalization);
        var bh = Tag(signed, "bh");
        var b = Tag(signed, "b");
        Assert.Equal(DkimResultKind.Pass, (await VerifyAsync(signed)).Kind);

        var wrongBh = signed.Replace(bh, Convert.ToBase64String(SHA256.HashData("something else"u8)), StringComparison.Ordinal);
        Assert.Equal((DkimResultKind.Fail, "body hash did not verify"), ((await VerifyAsync(wrongBh)).Kind, (await VerifyAsync(wrongBh)).Reason));

        // One bit of the RSA signature changed (the first base64 digit): the right length, the wrong value.
        var wrongB = signed.Replace("b=" + b, "b=" + (b[0] == 'A' ? 'B' : 'A') + b[1..], StringComparison.Ordinal);
        Assert.Equal((DkimResultKind.Fail, "signature did not verify"), ((await VerifyAsync(wrongB)).Kind, (await VerifyAsync(wrongB)).Reason));

        // Cut short: a signature not of the modulus' length.
        var shortB = signed.Replace("b=" + b, "b=" + b.Replace("\r\n", string.Empty, StringComparison.Ordinal).Replace(" ", string.Empty, StringComparison.Ordinal)[..40], StringComparison.Ordinal);
        Assert.Equal(DkimResultKind.Fail, (await VerifyAsync(shortB)).Kind);

        var badCanonicalization = signed.Replace($"c={canonicalization}", "c=relaxed/loose", StringComparison.Ordinal);
        Assert.Equal((DkimResultKind.PermError, "malformed signature: c=relaxed/loose is not simple or relaxed"), ((await VerifyAsync(badCanonicalization)).Kind, (await VerifyAsync(badCanonicalization)).Reason));

        var notBase64 = signed.Replace("b=" + b, "b=!!!!", StringComparison.Ordinal);
        Assert.Equal((DkimResultKind.PermError, "malformed signature: b= is not base64"), ((await VerifyAsync(notBase64)).Kind, (await VerifyAsync(notBase64)).Reason));
    }

    [Fact]
    public async Task Relaxed_header_canonicalization_survives_refolding_and_simple_does_not()
    {
        foreach (var canonicalization in new[] { "relaxed/simple", "simple/simple" })
        {
            var signed = await SignAsync(Text(), canonicalization);
            // What a relay may do to a header: fold it and change the white space, case of the name included.
            var refolded = signed.Replace("Subject: Quarterly figures\r\n", "SUBJECT:   Quarterly\r\n\t figures \r\n", StringComparison.Ordinal);

            var result = await VerifyAsync(refolded);

            Assert.Equal(canonicalization.StartsWith("relaxed", StringComparison.Ordinal) ? DkimResultKind.Pass : DkimResultKind.Fail, result.Kind);
        }
    }

    [Fact]
    public async Task A_header_field_added_above_a_signed_one_breaks_the_signature_and_one_added_when_over_signed_too()
    {
        var plain = await SignAsync(Text(), headers: "from,to,subject");
        var overSigned = await SignAsync(Text(), headers: "from,to,subject,subject,reply-to");
        Assert.Equal(DkimResultKind.Pass, (await VerifyAsync(overSigned)).Kind);

        // A second Subject below the signature but above the original: the bottom-up pick still takes the original
        // for the first "subject"; over-signing makes the second "subject" find the new one.
        static string AddSubject(string message) => message.Replace("From: Alice", "Subject: You won\r\nFrom: Alice", StringComparison.Ordinal);
        Assert.Equal(DkimResultKind.Pass, (await VerifyAsync(AddSubject(plain))).Kind);
        Assert.Equal((DkimResultKind.Fail, "signature did not verify"), ((await VerifyAsync(AddSubject(overSigned))).Kind, (await VerifyAsync(AddSubject(overSigned))).Reason));

        // An added Reply-To, signed as absent.
        var replyTo = overSigned.Replace("From: Alice", "Reply-To: mallory@example.net\r\nFrom: Alice", StringComparison.Ordinal);
        Assert.Equal(DkimResultKind.Fail, (await VerifyAsync(replyTo)).Kind);

        // A signed header changed in place.
        Assert.Equal(DkimResultKind.Fail, (await VerifyAsync(plain.Replace("To: Bob <bob@example.net>", "To: Bob <bob@example.com>", StringComparison.Ordinal))).Kind);
    }

    [Fact]
    public async Task An_l_shorter_than_the_body_is_neutral_and_an_l_longer_than_the_body_a_permerror()
    {
        var signed = await SignAsync(Text(), length: true);
        var shorter = await VerifyAsync(signed + "appended\r\n");
        Assert.Equal(DkimResultKind.Neutral, shorter.Kind);

        // A signer whose l= exceeds its body (§3.5: the verifier cannot treat that as valid): sign by hand with l=
        // larger than the canonical body, bh= over the whole of it.
        var message = DkimVerifierTests.Message();
        var fields = DkimHeaderFields.Parse(message, out var bodyStart);
        var bodyHash = new byte[32];
        var bodyLength = DkimBodyCanonicalization.Sha256(message.AsSpan(bodyStart), relaxed: true, null, bodyHash);
        var header = $"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={Domain}; s=fast; l={bodyLength + 100}; h=from:subject; bh={Convert.ToBase64String(bodyHash)}; b=";
        var unsigned = Encoding.ASCII.GetBytes(header + "\r\n" + Text());
        fields = DkimHeaderFields.Parse(unsigned, out _);
        using var data = new ByteBuilder();
        DkimHeaderFields.WriteSignedData(unsigned, fields, ["from", "subject"], fields[0], relaxed: true, data);
        using var rsa = RSA.Create();
        rsa.ImportFromPem(RsaKey.PrivatePem);
        var b = Convert.ToBase64String(rsa.SignData(data.Written.ToArray(), HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1));

        var longer = await VerifyAsync(header + b + "\r\n" + Text());

        Assert.Equal(DkimResultKind.PermError, longer.Kind);
        Assert.Equal($"l={bodyLength + 100} is longer than the body ({bodyLength} canonical bytes)", longer.Reason);
    }

    [Fact]
    public async Task One_cached_key_verifies_many_messages_at_once()
    {
        var signed = Encoding.Latin1.GetBytes(await SignAsync(Text()));
        var tampered = Encoding.Latin1.GetBytes(Encoding.Latin1.GetString(signed).Replace("Quarterly", "Quarterlz", StringComparison.Ordinal));
        Assert.Equal(DkimResultKind.Pass, Assert.Single(await _verifier.VerifyAsync(signed, Token())).Kind);

        // The key's RSA object is shared by every message verified with it: concurrent checks must not disturb
        // each other (a pass stays a pass, a fail a fail).
        var runs = await Task.WhenAll(Enumerable.Range(0, 8).Select(worker => Task.Run(async () =>
        {
            var kinds = new List<DkimResultKind>();
            for (var i = 0; i < 100; i++)
            {
                var message = (worker + i) % 2 == 0 ? signed : tampered;
                kinds.Add(Assert.Single(await _verifier.VerifyAsync(message, Token())).Kind);
            }

            return kinds.Select((kind, i) => (kind, expected: (worker + i) % 2 == 0 ? DkimResultKind.Pass : DkimResultKind.Fail)).ToList();
        })));

        Assert.All(runs.SelectMany(r => r), r => Assert.Equal(r.expected, r.kind));
    }

    /// <summary>Changes a message may meet on its way, each applied to every signed message of the differential test.</summary>
    private static readonly (string Name, Func<string, string> Change)[] Changes =
    [
        ("as signed", m => m),
        ("line appended to the body", m => m + "Appended line\r\n"),
        ("empty lines appended", m => m + "\r\n\r\n"),
        ("body white space widened", m => m.Replace("Hello Bob,", "Hello   Bob,  ", StringComparison.Ordinal)),
        ("body word changed", m => m.Replace("attached", "enclosed", StringComparison.Ordinal)),
        ("Subject refolded", m => m.Replace("Subject: Quarterly figures\r\n", "Subject:  Quarterly\r\n figures\r\n", StringComparison.Ordinal)),
        ("To name in upper case", m => m.Replace("\r\nTo: Bob", "\r\nTO: Bob", StringComparison.Ordinal)),
        ("Subject added on top", m => "Subject: prize\r\n" + m),
        ("Subject changed", m => m.Replace("Quarterly figures", "Quarterly fee", StringComparison.Ordinal)),
        ("Date removed", m => m.Replace("Date: Thu, 03 Dec 2026 16:00:00 +0000\r\n", string.Empty, StringComparison.Ordinal)),
        ("Received added", m => "Received: from relay.example.net by mx.example.com; Thu, 03 Dec 2026 16:00:01 +0000\r\n" + m),
        ("LF line ends", m => m.Replace("\r\n", "\n", StringComparison.Ordinal)),
    ];

    [Fact]
    public async Task Its_verdicts_match_MimeKit_verifier_on_dkimpy_signed_messages_as_signed_and_changed()
    {
        var bases = new Dictionary<string, string>
        {
            ["plain"] = Text(),
            ["spaced body"] = Text(body: "Hello Bob,\r\n\r\n  the  figures\tare attached. \r\n\r\n\r\n"),
            ["folded headers"] = Text().Replace("To: Bob <bob@example.net>", "To: Bob <bob@example.net>,\r\n\tCarol <carol@example.net>  ", StringComparison.Ordinal),
            ["no final CRLF"] = Text(body: "Hello Bob,\r\n\r\nthe figures are attached."),
            ["empty body"] = Text(body: string.Empty),
            ["two Subject fields"] = Text().Replace("Date:", "Subject: second\r\nDate:", StringComparison.Ordinal),
        };
        var options = new (string Canonicalization, string Headers, bool Length, bool Ed25519)[]
        {
            ("simple/simple", "from,to,subject,date", false, false),
            ("simple/relaxed", "from,from,to,subject,subject,date,reply-to", false, false),
            ("relaxed/simple", "from,to,subject", true, false),
            ("relaxed/relaxed", "from,to,to,subject,subject,date,date,cc", false, false),
            ("relaxed/relaxed", "from,subject,date", true, false),
            ("simple/simple", "from,to,subject,subject", false, true),
        };
        var mimeKit = new MimeKit.Cryptography.DkimVerifier(_keys);
        var compared = 0;
        var passed = 0;
        var disagreements = new List<string>();
        var all = new List<(string Name, string Message, bool Valid)>();
        foreach (var (baseName, text) in bases)
        {
            foreach (var (canonicalization, headers, length, ed25519) in options)
            {
                var signed = await SignAsync(text, canonicalization, headers, length, ed25519);
                foreach (var (changeName, change) in Changes)
                {
                    var message = change(signed);
                    var ours = await VerifyAsync(message);
                    var theirs = await MimeKitVerifyAsync(mimeKit, message);
                    // MimeKit says valid for a signature whose l= leaves content unsigned; Elemta verifies it and then
                    // applies its policy (neutral by default).
                    var oursValid = ours.Kind is DkimResultKind.Pass || (ours.Kind == DkimResultKind.Neutral && ours.Reason.Contains("unsigned", StringComparison.Ordinal));
                    compared++;
                    passed += oursValid ? 1 : 0;
                    all.Add(($"{baseName}, c={canonicalization} h={headers} l={length} ed25519={ed25519}, {changeName}", message, oursValid));
                    if (oursValid != theirs)
                    {
                        disagreements.Add($"{baseName}, c={canonicalization} h={headers} l={length} ed25519={ed25519}, {changeName}: Elemta {ours.Kind} ({ours.Reason}), MimeKit {(theirs ? "valid" : "invalid")}");
                    }
                }
            }
        }

        // dkimpy, a third implementation, over the same messages in one run.
        var dkimpy = await DkimpyVerifyAllAsync(all.Select(m => m.Message).ToList());
        for (var i = 0; i < all.Count; i++)
        {
            if (all[i].Valid != dkimpy[i])
            {
                disagreements.Add($"{all[i].Name}: Elemta {(all[i].Valid ? "valid" : "invalid")}, dkimpy {(dkimpy[i] ? "valid" : "invalid")}");
            }
        }

        Assert.True(disagreements.Count == 0, string.Join("\n", disagreements));
        Assert.Equal(bases.Count * options.Length * Changes.Length, compared);
        // Both verdicts occur in numbers, so the comparison is not of one answer only.
        Assert.InRange(passed, compared / 5, compared * 4 / 5);
    }

    /// <summary>dkimpy's dkim.verify on each message, the two keys given by a dnsfunc: true where it passes.</summary>
    private static async Task<List<bool>> DkimpyVerifyAllAsync(List<string> messages)
    {
        var dir = Directory.CreateTempSubdirectory("elemta-dkimpy-verify-");
        try
        {
            for (var i = 0; i < messages.Count; i++)
            {
                await File.WriteAllBytesAsync(Path.Combine(dir.FullName, $"{i:D4}.eml"), Encoding.Latin1.GetBytes(messages[i]));
            }

            var script = $$"""
                import sys, os, dkim
                keys = {'fast._domainkey.{{Domain}}': '{{RsaKey.Record}}', 'fasted._domainkey.{{Domain}}': '{{Ed25519Key.Record}}'}
                def dnsfunc(name, timeout=5):
                    return keys.get(name.decode().rstrip('.'), '').encode() or None
                d = sys.argv[1]
                for f in sorted(os.listdir(d)):
                    try:
                        ok = dkim.verify(open(os.path.join(d, f), 'rb').read(), dnsfunc=dnsfunc)
                    except Exception:
                        ok = False
                    print('pass' if ok else 'fail')
                """;
            var (exit, output, error) = await DkimTools.RunAsync(DkimTools.Python, ["-c", script, dir.FullName]);
            Assert.True(exit == 0, $"dkimpy crashed: {error}");
            var verdicts = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Trim() == "pass").ToList();
            Assert.Equal(messages.Count, verdicts.Count);
            return verdicts;
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    private static async Task<bool> MimeKitVerifyAsync(MimeKit.Cryptography.DkimVerifier verifier, string message)
    {
        using var stream = new MemoryStream(Encoding.Latin1.GetBytes(message));
        var parsed = await MimeKit.MimeMessage.LoadAsync(stream);
        var field = parsed.Headers.Single(h => h.Id == MimeKit.HeaderId.DkimSignature);
        return await verifier.VerifyAsync(parsed, field);
    }
}
