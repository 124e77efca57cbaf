using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Elemta.MailAuth.Arc;
using Elemta.MailAuth.Spf;
using Elemta.Testing;
using Microsoft.Extensions.Time.Testing;
using MimeKit;
using MimeKit.Cryptography;

namespace Elemta.MailAuth.Tests.Arc;

/// <summary>
/// Sealing and validating over real DNS: the keys are TXT records on <see cref="LoopbackDnsServer"/>, looked up by
/// <see cref="ArcKeyLocator"/> through <see cref="DnsClientSpfDns"/>; a two-hop chain; what breaks a chain; and
/// dkimpy (Debian's python3-dkim, another implementation) validating Elemta's seals.
/// </summary>
public sealed class ArcSealAndValidateTests : IAsyncLifetime
{
    private const string Message =
        "Authentication-Results: mx.example.org; arc=none; spf=pass smtp.mailfrom=example.com;\r\n" +
        "  dkim=pass header.d=example.com; dmarc=pass header.from=example.com\r\n" +
        "Received: from client.example.com (client.example.com [192.0.2.10]) by mx.example.org\r\n" +
        "From: Alice <alice@example.com>\r\n" +
        "To: list@example.org\r\n" +
        "Subject: ARC over loopback DNS\r\n" +
        "Date: Thu, 03 Dec 2026 12:00:00 +0000\r\n" +
        "Message-ID: <arc-1@example.com>\r\n" +
        "MIME-Version: 1.0\r\n" +
        "Content-Type: text/plain; charset=utf-8\r\n" +
        "\r\n" +
        "Hello  list,\r\n" +
        "a message that will travel through two hops.\r\n";

    private LoopbackDnsServer _dns = null!;
    // Generated once: RSA key generation is the slow part of these tests.
    private static readonly RSA ListKey = RSA.Create(2048);
    private static readonly RSA ForwarderKey = RSA.Create(2048);
    private readonly RSA _listKey = ListKey;
    private readonly RSA _forwarderKey = ForwarderKey;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        // A 2048-bit key's record is longer than 255 bytes: it travels as several character-strings.
        _dns.AddTxt("arc._domainkey.example.org", KeyRecord(_listKey));
        _dns.AddTxt("fwd._domainkey.example.net", KeyRecord(_forwarderKey));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _dns.DisposeAsync();
    }

    private static string KeyRecord(RSA key) => "v=DKIM1; k=rsa; p=" + Convert.ToBase64String(key.ExportSubjectPublicKeyInfo());

    private static CancellationToken Token() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private DnsClientSpfDns Dns() => new(new SpfDnsOptions { Servers = [_dns.EndPoint.ToString()], Timeout = TimeSpan.FromSeconds(4), Retries = 0 });

    private ArcValidator Validator() => new(new ArcKeyLocator(Dns()));

    private static ArcSealer Sealer(RSA key, string domain, string selector, string authServId) => new(
        new ArcSealerSettings { Domain = domain, Selector = selector, AuthServId = authServId },
        new MemoryStream(Encoding.ASCII.GetBytes(key.ExportRSAPrivateKeyPem())),
        new FakeTimeProvider(new DateTimeOffset(2026, 12, 3, 12, 0, 5, TimeSpan.Zero)));

    private static MimeMessage Parse(string text) => MimeMessage.Load(new MemoryStream(Encoding.UTF8.GetBytes(text)));

    private static async Task<byte[]> WireAsync(MimeMessage message)
    {
        var stream = new MemoryStream();
        await message.WriteToAsync(stream, Token());
        return stream.ToArray();
    }

    private static MimeMessage Reparse(byte[] wire) => MimeMessage.Load(new MemoryStream(wire));

    [Fact]
    public async Task ASealedMessageValidatesAndASecondHopExtendsTheChain()
    {
        var message = Parse(Message);
        Assert.Equal(ArcChainStatus.None, (await Validator().ValidateAsync(message, Token())).Status);

        Assert.True(await Sealer(_listKey, "example.org", "arc", "mx.example.org").SealAsync(message, Token()));
        var first = Reparse(await WireAsync(message));
        var validation = await Validator().ValidateAsync(first, Token());
        Assert.Equal(ArcChainStatus.Pass, validation.Status);
        Assert.Equal(1, validation.Instances);
        Assert.Equal("arc=pass", validation.ToAuthenticationResults());
        Assert.Contains("cv=none", first.Headers[HeaderId.ArcSeal], StringComparison.Ordinal);
        Assert.Contains("t=1796299205", first.Headers[HeaderId.ArcSeal], StringComparison.Ordinal);
        Assert.Matches(@"^\s*i=1;\s+mx\.example\.org;\s+arc=none;\s+spf=pass", first.Headers[HeaderId.ArcAuthenticationResults]);

        // The forwarder validates, records arc=pass in its own Authentication-Results and seals: cv=pass at i=2.
        first.Headers.Insert(0, new Header(HeaderId.AuthenticationResults, $"fwd.example.net; {validation.ToAuthenticationResults()}; spf=fail smtp.mailfrom=example.com"));
        first.Subject = "[list] ARC over loopback DNS";
        Assert.True(await Sealer(_forwarderKey, "example.net", "fwd", "fwd.example.net").SealAsync(first, Token()));
        var second = Reparse(await WireAsync(first));

        var chain = await Validator().ValidateAsync(second, Token());
        Assert.Equal(ArcChainStatus.Pass, chain.Status);
        Assert.Equal(2, chain.Instances);
        var seal2 = second.Headers.First(h => h.Id == HeaderId.ArcSeal).Value;
        Assert.Contains("i=2", seal2, StringComparison.Ordinal);
        Assert.Contains("cv=pass", seal2, StringComparison.Ordinal);
        Assert.Contains("d=example.net", seal2, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AChangeAfterTheLastSealBreaksTheChain()
    {
        var message = Parse(Message);
        await Sealer(_listKey, "example.org", "arc", "mx.example.org").SealAsync(message, Token());
        var wire = Encoding.UTF8.GetString(await WireAsync(message)).Replace("two hops", "three hops", StringComparison.Ordinal);

        var body = await Validator().ValidateAsync(Parse(wire), Token());
        Assert.Equal(ArcChainStatus.Fail, body.Status);
        Assert.True(body.Errors.HasFlag(ArcValidationErrors.MessageSignatureValidationFailed));

        var sealedMessage = Reparse(await WireAsync(message));
        var aar = sealedMessage.Headers.IndexOf(HeaderId.ArcAuthenticationResults);
        sealedMessage.Headers[aar].Value = sealedMessage.Headers[aar].Value.Replace("spf=pass", "spf=fail", StringComparison.Ordinal);
        var seal = await Validator().ValidateAsync(Reparse(await WireAsync(sealedMessage)), Token());
        Assert.Equal(ArcChainStatus.Fail, seal.Status);
        Assert.True(seal.Errors.HasFlag(ArcValidationErrors.SealValidationFailed));
    }

    [Fact]
    public async Task AKeyThatCannotBeFoundFailsAndATemporaryDnsErrorIsFlagged()
    {
        var message = Parse(Message);
        await Sealer(_listKey, "example.org", "arc", "mx.example.org").SealAsync(message, Token());
        var wire = await WireAsync(message);

        _dns.Remove("arc._domainkey.example.org");
        var missing = await Validator().ValidateAsync(Reparse(wire), Token());
        Assert.Equal(ArcChainStatus.Fail, missing.Status);
        Assert.False(missing.KeyLookupTemporaryFailure);

        _dns.SetServerFailure("arc._domainkey.example.org");
        var temporary = await Validator().ValidateAsync(Reparse(wire), Token());
        Assert.Equal(ArcChainStatus.Fail, temporary.Status);
        Assert.True(temporary.KeyLookupTemporaryFailure);
    }

    [Fact]
    public async Task TheKeyLocatorNamesWhatIsWrong()
    {
        _dns.AddTxt("bad._domainkey.example.org", "v=DKIM1; k=rsa; p=");
        var locator = new ArcKeyLocator(Dns());

        Assert.NotNull(await locator.LocatePublicKeyAsync("dns/txt", "example.org", "arc", Token()));
        var none = await Assert.ThrowsAsync<ArcKeyException>(() => locator.LocatePublicKeyAsync("dns/txt", "example.org", "nokey", Token()));
        Assert.Contains("nokey._domainkey.example.org", none.Message, StringComparison.Ordinal);
        Assert.False(none.Temporary);
        var revoked = await Assert.ThrowsAsync<ArcKeyException>(() => locator.LocatePublicKeyAsync("dns/txt", "example.org", "bad", Token()));
        Assert.Contains("no usable key", revoked.Message, StringComparison.Ordinal);
        var method = await Assert.ThrowsAsync<ArcKeyException>(() => locator.LocatePublicKeyAsync("dns/https", "example.org", "arc", Token()));
        Assert.Contains("q=dns/https", method.Message, StringComparison.Ordinal);
        _dns.SetServerFailure("broken._domainkey.example.org");
        var broken = await Assert.ThrowsAsync<ArcKeyException>(() => locator.LocatePublicKeyAsync("dns/txt", "example.org", "broken", Token()));
        Assert.True(broken.Temporary);
        Assert.Equal(1, locator.TemporaryFailures);
    }

    [Fact]
    public async Task AKeyRecordIsParsedOnceAndItsKeyReused()
    {
        var locator = new ArcKeyLocator(Dns());

        var first = await locator.LocatePublicKeyAsync("dns/txt", "example.org", "arc", Token());
        var second = await locator.LocatePublicKeyAsync("dns/txt", "example.org", "arc", Token());
        var other = await locator.LocatePublicKeyAsync("dns/txt", "example.net", "fwd", Token());

        // The same record text: the same key object, not a second BouncyCastle import (a primality test of the modulus).
        Assert.Same(first, second);
        Assert.NotSame(first, other);
        Assert.Equal(2, locator.CachedKeys);
    }

    [Fact]
    public async Task NothingIsSealedWithoutThisServersAuthenticationResults()
    {
        var message = Parse(Message);
        var before = message.Headers.Count;

        Assert.False(await Sealer(_listKey, "example.org", "arc", "other.example.org").SealAsync(message, Token()));
        Assert.Equal(before, message.Headers.Count);
    }

    [Fact]
    public async Task ABrokenChainIsNotExtended()
    {
        var message = Parse(Message);
        await Sealer(_listKey, "example.org", "arc", "mx.example.org").SealAsync(message, Token());
        // A second ARC-Seal with i=1: the chain's structure is broken (RFC 8617 §5.2 step 3).
        message.Headers.Add(HeaderId.ArcSeal, message.Headers[HeaderId.ArcSeal]!);
        Assert.Equal(ArcChainStatus.Fail, (await Validator().ValidateAsync(message, Token())).Status);
        message.Headers.Insert(0, new Header(HeaderId.AuthenticationResults, "fwd.example.net; arc=fail"));
        var before = message.Headers.Count;

        Assert.False(await Sealer(_forwarderKey, "example.net", "fwd", "fwd.example.net").SealAsync(message, Token()));
        Assert.Equal(before, message.Headers.Count);
    }

    [Fact]
    public void SettingsAndKeyErrorsAreNamed()
    {
        var noFrom = Assert.Throws<ArgumentException>(() => new ArcSealer(
            new ArcSealerSettings { Domain = "example.org", Selector = "arc", AuthServId = "mx", SignedHeaders = ["Subject"] },
            new MemoryStream(Encoding.ASCII.GetBytes(_listKey.ExportRSAPrivateKeyPem()))));
        Assert.Contains("From", noFrom.Message, StringComparison.Ordinal);

        var badKey = Assert.Throws<ArgumentException>(() => new ArcSealer(
            new ArcSealerSettings { Domain = "example.org", Selector = "arc", AuthServId = "mx" },
            new MemoryStream("not a key"u8.ToArray())));
        Assert.Contains("private key", badKey.Message, StringComparison.Ordinal);
    }

    /// <summary>
    /// Another implementation agrees: dkimpy's arc_verify (Debian python3-dkim, the library behind the suite) validates
    /// the two-hop chain Elemta sealed, with the keys answered from the same records.
    /// </summary>
    [Fact]
    public async Task DkimpyValidatesElemtasSeals()
    {
        const string python = "/usr/bin/python3";
        Assert.True(File.Exists("/usr/lib/python3/dist-packages/dkim/__init__.py"),
            "python3-dkim is missing: apt-get install python3-dkim (tests/run.sh installs it)");

        var message = Parse(Message);
        await Sealer(_listKey, "example.org", "arc", "mx.example.org").SealAsync(message, Token());
        message.Headers.Insert(0, new Header(HeaderId.AuthenticationResults, "fwd.example.net; arc=pass"));
        await Sealer(_forwarderKey, "example.net", "fwd", "fwd.example.net").SealAsync(message, Token());
        var path = Path.Combine(Path.GetTempPath(), $"arc-{Guid.NewGuid():N}.eml");
        await File.WriteAllBytesAsync(path, await WireAsync(message));
        try
        {
            const string script = """
                import sys, dkim
                records = {sys.argv[2]: sys.argv[3].encode(), sys.argv[4]: sys.argv[5].encode()}
                def dns(name, timeout=5):
                    return records.get(name.decode().rstrip('.'))
                cv, results, reason = dkim.arc_verify(open(sys.argv[1], 'rb').read(), dnsfunc=dns)
                print(cv.decode(), len(results), reason)
                """;
            var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "-c", script, path, "arc._domainkey.example.org", KeyRecord(_listKey), "fwd._domainkey.example.net", KeyRecord(_forwarderKey) })
            {
                start.ArgumentList.Add(argument);
            }

            using var process = Process.Start(start)!;
            var stdout = process.StandardOutput.ReadToEndAsync();
            var stderr = process.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await process.WaitForExitAsync(timeout.Token);
            Assert.True(process.ExitCode == 0, await stderr);
            Assert.Equal("pass 2 success", (await stdout).Trim());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
