using System.Text;
using Elemta.MailAuth.Dkim;
using Elemta.Testing;
using Microsoft.Extensions.Time.Testing;

namespace Elemta.MailAuth.Tests.Dkim;

/// <summary>
/// <see cref="DkimVerifier"/> on messages signed by dkimpy (an independent implementation), keys served by a real DNS
/// server on loopback.
/// </summary>
public sealed class DkimVerifierTests : IAsyncLifetime
{
    private const string Domain = "example.org";
    private LoopbackDnsServer _dns = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _dns.DisposeAsync();

    internal static byte[] Message(string subject = "Quarterly figures", string body = "Hello Bob,\r\n\r\nthe figures are attached.\r\n") =>
        Encoding.ASCII.GetBytes(
            $"From: Alice <alice@example.org>\r\nTo: Bob <bob@example.net>\r\nSubject: {subject}\r\nDate: Thu, 03 Dec 2026 16:00:00 +0000\r\n" +
            $"Message-ID: <1@example.org>\r\n\r\n{body}");

    private (DkimVerifier Verifier, DnsDkimKeyLocator Keys) Verifier(DkimUnsignedContentPolicy policy = DkimUnsignedContentPolicy.Neutral, TimeProvider? time = null)
    {
        var options = new DkimVerificationOptions
        {
            Servers = [_dns.EndPoint.ToString()],
            Timeout = TimeSpan.FromSeconds(4),
            Retries = 0,
            UnsignedBodyContent = policy,
        };
        var keys = new DnsDkimKeyLocator(options, time);
        return (new DkimVerifier(keys, options, time), keys);
    }

    private static CancellationToken Token() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private DkimTestKey Publish(DkimTestKey key, string selector, int ttl = 300)
    {
        _dns.AddTxt($"{selector}._domainkey.{Domain}", key.Record, ttl);
        return key;
    }

    [Theory]
    [InlineData("rsa")]
    [InlineData("ed25519")]
    public async Task A_message_signed_by_dkimpy_passes(string keyType)
    {
        var key = Publish(keyType == "rsa" ? DkimTestKey.Rsa() : DkimTestKey.Ed25519(), "s1");
        var signed = await DkimTools.DkimpySignAsync(Message(), key, Domain, "s1");

        var result = Assert.Single(await Verifier().Verifier.VerifyAsync(signed, Token()));

        Assert.Equal(DkimResultKind.Pass, result.Kind);
        Assert.Equal((Domain, "s1", keyType == "rsa" ? "rsa-sha256" : "ed25519-sha256"), (result.Domain, result.Selector, result.Algorithm));
        Assert.Equal(8, result.HeaderB!.Length);
        Assert.Contains($"dkim=pass header.d={Domain} header.s=s1 header.a={result.Algorithm} header.b=", result.ToAuthenticationResults(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("simple/simple")]
    [InlineData("relaxed/simple")]
    [InlineData("simple/relaxed")]
    public async Task Every_canonicalization_dkimpy_offers_passes(string canonicalization)
    {
        var key = Publish(DkimTestKey.Rsa(), "canon");
        var signed = await DkimTools.DkimpySignAsync(Message(body: "Spaced   out\t \r\nlines  \r\n\r\n\r\n"), key, Domain, "canon", canonicalization: canonicalization);

        Assert.Equal(DkimResultKind.Pass, Assert.Single(await Verifier().Verifier.VerifyAsync(signed, Token())).Kind);
    }

    [Theory]
    [MemberData(nameof(DkimSignerTests.AwkwardMessages), MemberType = typeof(DkimSignerTests))]
    public async Task Awkward_messages_signed_by_dkimpy_pass_with_simple_and_relaxed_canonicalization(string name, string text)
    {
        var key = Publish(DkimTestKey.Ed25519(), "awk");
        var verifier = Verifier().Verifier;
        foreach (var canonicalization in new[] { "simple/simple", "relaxed/relaxed" })
        {
            var signed = await DkimTools.DkimpySignAsync(Encoding.UTF8.GetBytes(text), key, Domain, "awk", headers: "from,to,subject", canonicalization: canonicalization);

            var result = Assert.Single(await verifier.VerifyAsync(signed, Token()));

            Assert.True(result.Kind == DkimResultKind.Pass, $"{name}, {canonicalization}: {result.Kind} {result.Reason}");
        }
    }

    [Theory]
    [InlineData("rsa")]
    [InlineData("ed25519")]
    public async Task A_tampered_body_or_header_fails(string keyType)
    {
        var key = Publish(keyType == "rsa" ? DkimTestKey.Rsa() : DkimTestKey.Ed25519(), "s1");
        var signed = Encoding.ASCII.GetString(await DkimTools.DkimpySignAsync(Message(), key, Domain, "s1"));
        var verifier = Verifier().Verifier;

        var body = Assert.Single(await verifier.VerifyAsync(Encoding.ASCII.GetBytes(signed.Replace("figures are attached", "figures are ATTACHED", StringComparison.Ordinal)), Token()));
        Assert.Equal((DkimResultKind.Fail, "body hash did not verify"), (body.Kind, body.Reason));

        var header = Assert.Single(await verifier.VerifyAsync(Encoding.ASCII.GetBytes(signed.Replace("Subject: Quarterly figures", "Subject: Invoice overdue", StringComparison.Ordinal)), Token()));
        Assert.Equal((DkimResultKind.Fail, "signature did not verify"), (header.Kind, header.Reason));
    }

    [Fact]
    public async Task A_512_bit_key_is_refused_although_the_signature_is_right()
    {
        var key = Publish(DkimTestKey.Rsa(512), "short");
        var signed = await DkimTools.DkimpySignAsync(Message(), key, Domain, "short");

        var result = Assert.Single(await Verifier().Verifier.VerifyAsync(signed, Token()));

        Assert.Equal(DkimResultKind.PermError, result.Kind);
        Assert.Contains("512 bits is too short", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_rsa_sha1_signature_fails_without_a_key_query()
    {
        var key = Publish(DkimTestKey.Rsa(), "sha1");
        var signed = await DkimTools.DkimpySignAsync(Message(), key, Domain, "sha1", algorithm: "rsa-sha1");
        _dns.ClearQueries();

        var result = Assert.Single(await Verifier().Verifier.VerifyAsync(signed, Token()));

        Assert.Equal((DkimResultKind.Fail, "rsa-sha1"), (result.Kind, result.Algorithm));
        Assert.Contains("RFC 8301", result.Reason, StringComparison.Ordinal);
        Assert.Equal(0, _dns.QueryCount);
    }

    [Fact]
    public async Task No_key_and_a_revoked_key_are_permerrors_and_a_failing_server_a_temperror()
    {
        var key = DkimTestKey.Rsa();
        var verifier = Verifier().Verifier;

        var missing = Assert.Single(await verifier.VerifyAsync(await DkimTools.DkimpySignAsync(Message(), key, Domain, "gone"), Token()));
        Assert.Equal(DkimResultKind.PermError, missing.Kind);
        Assert.Contains("no key at gone._domainkey.example.org (NXDOMAIN)", missing.Reason, StringComparison.Ordinal);

        _dns.AddTxt($"revoked._domainkey.{Domain}", "v=DKIM1; k=rsa; p=");
        var revoked = Assert.Single(await verifier.VerifyAsync(await DkimTools.DkimpySignAsync(Message(), key, Domain, "revoked"), Token()));
        Assert.Equal(DkimResultKind.PermError, revoked.Kind);
        Assert.Contains("key revoked", revoked.Reason, StringComparison.Ordinal);

        _dns.AddTxt($"junk._domainkey.{Domain}", "v=DKIM1; k=rsa; p=bm90IGEga2V5");
        var junk = Assert.Single(await verifier.VerifyAsync(await DkimTools.DkimpySignAsync(Message(), key, Domain, "junk"), Token()));
        Assert.Equal(DkimResultKind.PermError, junk.Kind);

        _dns.SetServerFailure($"broken._domainkey.{Domain}");
        var broken = Assert.Single(await verifier.VerifyAsync(await DkimTools.DkimpySignAsync(Message(), key, Domain, "broken"), Token()));
        Assert.Equal(DkimResultKind.TempError, broken.Kind);
        Assert.Equal("dkim=temperror", broken.ToAuthenticationResults()[..14]);
    }

    [Fact]
    public async Task An_unanswered_key_query_is_a_temperror()
    {
        var signed = await DkimTools.DkimpySignAsync(Message(), DkimTestKey.Rsa(), Domain, "silent");
        _dns.SetNoResponse($"silent._domainkey.{Domain}");
        var options = new DkimVerificationOptions { Servers = [_dns.EndPoint.ToString()], Timeout = TimeSpan.FromMilliseconds(300), Retries = 0 };

        var result = Assert.Single(await new DkimVerifier(new DnsDkimKeyLocator(options), options).VerifyAsync(signed, Token()));

        Assert.Equal(DkimResultKind.TempError, result.Kind);
        Assert.StartsWith("key query for silent._domainkey.example.org failed", result.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_key_of_the_wrong_type_for_the_algorithm_is_a_permerror()
    {
        var rsa = DkimTestKey.Rsa();
        _dns.AddTxt($"mixed._domainkey.{Domain}", DkimTestKey.Ed25519().Record);
        var signed = await DkimTools.DkimpySignAsync(Message(), rsa, Domain, "mixed");

        var result = Assert.Single(await Verifier().Verifier.VerifyAsync(signed, Token()));

        Assert.Equal((DkimResultKind.PermError, "key is k=ed25519, signature is a=rsa-sha256"), (result.Kind, result.Reason));
    }

    [Fact]
    public async Task Several_signatures_are_each_reported_in_order()
    {
        var rsa = Publish(DkimTestKey.Rsa(), "rsa");
        var ed = Publish(DkimTestKey.Ed25519(), "ed");
        var message = await DkimTools.DkimpySignAsync(Message(), rsa, Domain, "rsa");
        message = await DkimTools.DkimpySignAsync(message, ed, Domain, "ed");
        message = await DkimTools.DkimpySignAsync(message, DkimTestKey.Rsa(), Domain, "unpublished");

        var results = await Verifier().Verifier.VerifyAsync(message, Token());

        Assert.Equal(
            [("unpublished", DkimResultKind.PermError), ("ed", DkimResultKind.Pass), ("rsa", DkimResultKind.Pass)],
            results.Select(r => (r.Selector!, r.Kind)).ToList());
        Assert.Equal(3, results.Select(r => r.HeaderB).Distinct().Count());
    }

    [Fact]
    public async Task No_signature_gives_no_result()
    {
        Assert.Empty(await Verifier().Verifier.VerifyAsync(Message(), Token()));
    }

    [Theory]
    [InlineData(DkimUnsignedContentPolicy.Neutral, DkimResultKind.Neutral)]
    [InlineData(DkimUnsignedContentPolicy.Policy, DkimResultKind.Policy)]
    [InlineData(DkimUnsignedContentPolicy.Fail, DkimResultKind.Fail)]
    public async Task Content_appended_after_the_signed_length_gets_the_configured_result(DkimUnsignedContentPolicy policy, DkimResultKind expected)
    {
        var key = Publish(DkimTestKey.Rsa(), "len");
        var signed = await DkimTools.DkimpySignAsync(Message(), key, Domain, "len", length: true);
        var verifier = Verifier(policy).Verifier;

        // Exactly as signed: l= covers the whole body.
        Assert.Equal(DkimResultKind.Pass, Assert.Single(await verifier.VerifyAsync(signed, Token())).Kind);

        // What a forwarder (or an attacker) appends is not covered by the signature.
        var appended = Assert.Single(await verifier.VerifyAsync((byte[])[.. signed, .. "Click https://evil.example/ now\r\n"u8], Token()));
        Assert.Equal(expected, appended.Kind);
        Assert.Matches(@"^l=\d+ leaves 33 of \d+ body bytes unsigned$", appended.Reason);
    }

    [Fact]
    public async Task Keys_are_cached_for_their_ttl()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var key = Publish(DkimTestKey.Ed25519(), "cached", ttl: 60);
        var signed = await DkimTools.DkimpySignAsync(Message(), key, Domain, "cached");
        var (verifier, keys) = Verifier(time: time);
        _dns.ClearQueries();

        Assert.Equal(DkimResultKind.Pass, Assert.Single(await verifier.VerifyAsync(signed, Token())).Kind);
        Assert.Equal(DkimResultKind.Pass, Assert.Single(await verifier.VerifyAsync(signed, Token())).Kind);
        Assert.Equal(1, _dns.QueryCount);
        Assert.Equal(1, keys.CachedKeys);

        time.Advance(TimeSpan.FromSeconds(61));
        Assert.Equal(DkimResultKind.Pass, Assert.Single(await verifier.VerifyAsync(signed, Token())).Kind);
        Assert.Equal(2, _dns.QueryCount);
    }

    [Fact]
    public async Task A_signature_past_its_expiry_is_a_permerror()
    {
        var key = Publish(DkimTestKey.Rsa(), "exp");
        // dkimpy's sign has no x=; MimeKit's signer writes one.
        var parsed = MimeKit.MimeMessage.Load(new MemoryStream(Message()));
        var signer = new MimeKit.Cryptography.DkimSigner(Elemta.MailAuth.Dkim.DkimPrivateKey.Parse(key.PrivatePem, "test").Key, Domain, "exp")
        {
            SignaturesExpireAfter = TimeSpan.FromHours(1),
            HeaderCanonicalizationAlgorithm = MimeKit.Cryptography.DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = MimeKit.Cryptography.DkimCanonicalizationAlgorithm.Relaxed,
        };
        signer.Sign(parsed, ["From", "To", "Subject"]);
        using var signed = new MemoryStream();
        parsed.WriteTo(MimeKit.FormatOptions.Default, signed);
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);

        Assert.Equal(DkimResultKind.Pass, Assert.Single(await Verifier(time: time).Verifier.VerifyAsync(signed.ToArray(), Token())).Kind);

        time.Advance(TimeSpan.FromHours(2));
        var expired = Assert.Single(await Verifier(time: time).Verifier.VerifyAsync(signed.ToArray(), Token()));
        Assert.Equal((DkimResultKind.PermError, "signature expired (x=)"), (expired.Kind, expired.Reason));
    }

    [Fact]
    public async Task A_malformed_signature_field_is_a_permerror()
    {
        var message = Encoding.ASCII.GetBytes("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; d=example.net\r\n" + Encoding.ASCII.GetString(Message()));
        var duplicate = Assert.Single(await Verifier().Verifier.VerifyAsync(message, Token()));
        Assert.Equal((DkimResultKind.PermError, "malformed signature: tag d= appears twice"), (duplicate.Kind, duplicate.Reason));

        message = Encoding.ASCII.GetBytes("DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=to; bh=AAAA; b=AAAA\r\n" + Encoding.ASCII.GetString(Message()));
        var noFrom = Assert.Single(await Verifier().Verifier.VerifyAsync(message, Token()));
        Assert.Equal((DkimResultKind.PermError, "From is not signed (h= lacks from)"), (noFrom.Kind, noFrom.Reason));
    }
}
