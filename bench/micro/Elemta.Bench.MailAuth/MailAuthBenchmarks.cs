using System.Net;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using BenchmarkDotNet.Attributes;
using Elemta.Delivery;
using Elemta.Delivery.Dns;
using Elemta.MailAuth.Dkim;
using Elemta.MailAuth.Dmarc;
using Elemta.MailAuth.Spf;
using Elemta.Plugins;
using Elemta.Policies.MailAuthentication;
using Elemta.Testing;
using Microsoft.Extensions.Options;
using MimeKit;
using Org.BouncyCastle.Crypto.Parameters;

namespace Elemta.Bench.MailAuth;

/// <summary>
/// Inbound mail authentication of one DKIM-signed 1 KiB message, as <c>bench/postfix-vs-elemta.sh</c> with
/// <c>MAILAUTH=1</c> sends it: From, To, Subject, Date, Message-ID and 76-octet lines, signed by dkimpy (relaxed/relaxed
/// over from, to, subject) with a 2048-bit RSA key. DNS (SPF, DMARC <c>p=reject</c>, the DKIM key) is a real server on
/// loopback, asked once in setup: every operation then runs on cached answers, as a busy server does.
/// </summary>
/// <remarks>
/// <c>Plugin</c> is the whole per-message work of the mail-authentication plugin (MAIL FROM with its SPF result cached,
/// then the message: DKIM, DMARC, the Authentication-Results header); the other benchmarks are its parts.
/// </remarks>
[MemoryDiagnoser]
public class MailAuthBenchmarks
{
    private const string Domain = "example.org";
    private LoopbackDnsServer _dns = null!;
    private DnsLookup _lookup = null!;
    private MailAuthenticationPlugin _plugin = null!;
    private DkimVerifier _verifier = null!;
    private DnsDkimKeyLocator _keys = null!;
    private DmarcEvaluator _dmarc = null!;
    private SessionInfo _session = null!;
    private MailTransaction _transaction = null!;
    private byte[] _content = [];
    private MessageHeader[] _headers = [];
    private string _signatureValue = string.Empty;
    private MimeMessage _parsed = null!;
    private Header _signatureField = null!;
    private MimeKit.Cryptography.DkimVerifier _mimeKitVerifier = null!;
    private RSA _rsa = null!;
    private RsaKeyParameters _bouncyCastleKey = null!;
    private byte[] _signedData = [];
    private byte[] _signature = [];
    private byte[] _body = [];
    private byte[] _arcSealed = [];
    private Elemta.MailAuth.Arc.ArcValidator _arc = null!;

    [GlobalSetup]
    public void Setup()
    {
        _rsa = RSA.Create(2048);
        var record = $"v=DKIM1; k=rsa; p={Convert.ToBase64String(_rsa.ExportSubjectPublicKeyInfo())}";
        _dns = LoopbackDnsServer.Start();
        _dns.AddTxt(Domain, "v=spf1 ip4:127.0.0.1 -all");
        _dns.AddTxt($"_dmarc.{Domain}", "v=DMARC1; p=reject");
        _dns.AddTxt($"s1._domainkey.{Domain}", record);
        // ARC: the same key seals (selector arc), so one record serves both.
        _dns.AddTxt($"arc._domainkey.{Domain}", record);
        _dns.SetSoa(Domain, 300);

        _content = Sign(Message(), _rsa.ExportPkcs8PrivateKeyPem());
        _headers = ParseHeaders(_content, out var bodyStart);
        _body = _content[bodyStart..];
        _signatureValue = _headers.First(h => h.Name.Equals("DKIM-Signature", StringComparison.OrdinalIgnoreCase)).Value;

        _lookup = new DnsLookup(Options.Create(new DnsOptions { Servers = [_dns.EndPoint.ToString()], Retries = 0 }));
        var verification = new DkimVerificationOptions();
        _keys = new DnsDkimKeyLocator(_lookup.QueryAsync, verification);
        _verifier = new DkimVerifier(_keys, verification);
        _plugin = new MailAuthenticationPlugin(_lookup, _verifier, Options.Create(new MailAuthenticationOptions { AuthServId = "mx.bench.test" }), TimeProvider.System);
        _dmarc = new DmarcEvaluator(new DnsClientSpfDns(_lookup.QueryAsync));
        _session = NewSession("bench-1", new IPEndPoint(IPAddress.Loopback, 40000), null, false);
        SetHeloName(_session, Domain);
        SetServerName(_session, "mx.bench.test");
        _transaction = NewTransaction($"alice@{Domain}", []);

        using (var stream = new MemoryStream(_content, writable: false))
        {
            _parsed = MimeMessage.Load(stream);
        }

        _signatureField = _parsed.Headers.First(h => h.Id == HeaderId.DkimSignature);
        _bouncyCastleKey = (RsaKeyParameters)DkimPublicKey.Parse(record).Key;
        _mimeKitVerifier = new MimeKit.Cryptography.DkimVerifier(new FixedKey(_bouncyCastleKey));
        // About what the header hash covers: From, To, Subject and the DKIM-Signature, relaxed.
        _signedData = Encoding.ASCII.GetBytes(string.Concat(Enumerable.Repeat("from:Alice <alice@example.org>\r\n", 10)));
        _signature = _rsa.SignData(_signedData, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

        _arcSealed = Seal(_content, _rsa.ExportRSAPrivateKeyPem());
        _arc = new Elemta.MailAuth.Arc.ArcValidator(new Elemta.MailAuth.Arc.ArcKeyLocator(new DnsClientSpfDns(_lookup.QueryAsync)));
        if (ArcValidate().GetAwaiter().GetResult().Status != Elemta.MailAuth.Arc.ArcChainStatus.Pass)
        {
            throw new InvalidOperationException("ARC does not pass in setup.");
        }

        // Every check must pass before anything is timed, so an error path is never measured by mistake.
        var verdict = VerifyAsync().GetAwaiter().GetResult();
        if (verdict is not [{ Kind: DkimResultKind.Pass }])
        {
            throw new InvalidOperationException($"DKIM does not pass in setup: {string.Join(", ", verdict.Select(r => $"{r.Kind} {r.Reason}"))}");
        }

        var header = PluginMessage().GetAwaiter().GetResult();
        if (!header.Contains("spf=pass", StringComparison.Ordinal) || !header.Contains("dkim=pass", StringComparison.Ordinal) || !header.Contains("dmarc=pass", StringComparison.Ordinal))
        {
            throw new InvalidOperationException($"The plugin does not pass everything in setup: {header}");
        }

        if (!MimeKitVerify() || !DotNetRsaVerify() || !BouncyCastleRsaVerify())
        {
            throw new InvalidOperationException("A signature check part does not pass in setup.");
        }
    }

    [GlobalCleanup]
    public void Cleanup()
    {
        _plugin.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _lookup.Dispose();
        _dns.DisposeAsync().AsTask().GetAwaiter().GetResult();
        _rsa.Dispose();
    }

    /// <summary>The plugin's work per message: MAIL FROM (SPF, cached), then the message hook (DKIM, DMARC, the header).</summary>
    [Benchmark(Baseline = true)]
    public async Task<string> PluginMessage()
    {
        await _plugin.OnMailFromAsync(_session, _transaction, CancellationToken.None).ConfigureAwait(false);
        var message = NewMessage("bench", $"alice@{Domain}", _headers, _content, ["bob@example.net"]);
        await _plugin.OnMessageAsync(_session, message, CancellationToken.None).ConfigureAwait(false);
        return message.AddedHeaders[^1].Value;
    }

    /// <summary>The MAIL FROM hook alone: SPF of HELO and MAIL FROM from the plugin's result cache.</summary>
    [Benchmark]
    public ValueTask<HookDecision> PluginMailFrom() => _plugin.OnMailFromAsync(_session, _transaction, CancellationToken.None);

    /// <summary>Every DKIM-Signature of the message verified (here one), key from the locator's cache.</summary>
    [Benchmark]
    public Task<IReadOnlyList<DkimResult>> VerifyAsync() => _verifier.VerifyAsync(_content, CancellationToken.None);

    /// <summary>DMARC of the From domain with the SPF and DKIM results given (DNS answers cached).</summary>
    [Benchmark]
    public Task<DmarcResult> DmarcEvaluate() => _dmarc.EvaluateAsync(
        new DmarcInput(Domain, new DmarcSpfInput(Domain, SpfResultKind.Pass), [new DmarcDkimInput(Domain, DmarcDkimResult.Pass, "s1")]), CancellationToken.None);

    /// <summary>
    /// ARC validation of the message with one ARC set (sealed by Elemta's ArcSealer), as the plugin does it for a
    /// message that carries an ARC-Seal: over the stored bytes (before this change: parsed by MimeKit and validated by
    /// MimeKit's ArcVerifier, BouncyCastle's RSA).
    /// </summary>
    [Benchmark]
    public Task<Elemta.MailAuth.Arc.ArcValidation> ArcValidate() => _arc.ValidateAsync(_arcSealed, CancellationToken.None);

    /// <summary>Part: MimeKit's parse of the message (the verifier's first step before this change).</summary>
    [Benchmark]
    public MimeMessage PartMimeParse()
    {
        using var stream = new MemoryStream(_content, writable: false);
        return MimeMessage.Load(stream);
    }

    /// <summary>Part: the key from the locator's cache.</summary>
    [Benchmark]
    public Task<DkimKeyLookup> PartKeyLookup() => _keys.LookupAsync(Domain, "s1", CancellationToken.None);

    /// <summary>Part: MimeKit's DkimVerifier.Verify on the parsed message with the key in hand (BouncyCastle's RSA inside).</summary>
    [Benchmark]
    public bool MimeKitVerify() => _mimeKitVerifier.Verify(_parsed, _signatureField);

    /// <summary>Part: one SHA256withRSA check of ~320 bytes with BouncyCastle (what MimeKit uses).</summary>
    [Benchmark]
    public bool BouncyCastleRsaVerify()
    {
        var signer = new Org.BouncyCastle.Crypto.Signers.RsaDigestSigner(new Org.BouncyCastle.Crypto.Digests.Sha256Digest());
        signer.Init(false, _bouncyCastleKey);
        signer.BlockUpdate(_signedData, 0, _signedData.Length);
        return signer.VerifySignature(_signature);
    }

    /// <summary>Part: the same check with .NET's RSA (OpenSSL), the key imported once.</summary>
    [Benchmark]
    public bool DotNetRsaVerify() => _rsa.VerifyData(_signedData, _signature, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);

    /// <summary>Part: the key record parsed (what a key-cache miss costs besides the DNS query).</summary>
    [Benchmark]
    public DkimPublicKey PartKeyParse() => DkimPublicKey.Parse($"v=DKIM1; k=rsa; p={Convert.ToBase64String(_rsa.ExportSubjectPublicKeyInfo())}");

    /// <summary>Part: the DKIM-Signature's tag list parsed.</summary>
    [Benchmark]
    public object? PartTagParse() => DkimTagList.Parse(_signatureValue, out _);

    /// <summary>Part: the canonical length of the body (relaxed), as the l= check counts it.</summary>
    [Benchmark]
    public long PartBodyLength() => DkimBodyCanonicalization.Length(_body, relaxed: true);

    /// <summary>Part: the stored header section read into fields (where the verifier starts).</summary>
    [Benchmark]
    public int PartHeaderFields() => DkimHeaderFields.Parse(_content, out _).Count;

    /// <summary>Part: the relaxed body canonicalized and hashed (SHA-256), what bh= is compared with.</summary>
    [Benchmark]
    public long PartBodyHash()
    {
        Span<byte> hash = stackalloc byte[32];
        return DkimBodyCanonicalization.Sha256(_body, relaxed: true, null, hash);
    }

    /// <summary>Part: the signed header data (h= fields and the signature without b=, relaxed) written and hashed.</summary>
    [Benchmark]
    public byte PartSignedHeaderHash()
    {
        var fields = DkimHeaderFields.Parse(_content, out _);
        var signature = fields.First(f => f.Is(_content, "DKIM-Signature"));
        Span<byte> hash = stackalloc byte[32];
        using var data = new ByteBuilder();
        DkimHeaderFields.WriteSignedData(_content, fields, ["from", "to", "subject"], signature, relaxed: true, data);
        SHA256.HashData(data.Written, hash);
        return hash[0];
    }

    /// <summary>The message of the load generator's template at 1 KiB: five header fields, 76-octet lines.</summary>
    private static byte[] Message()
    {
        var text = new StringBuilder()
            .Append("From: <alice@example.org>\r\nTo: <bob@example.net>\r\nSubject: Elemta benchmark message\r\n")
            .Append("Date: Thu, 03 Dec 2026 20:00:00 +0000\r\nMessage-ID: <0000000001.bench@example.org>\r\n\r\n");
        var line = 0;
        while (text.Length < 1024 - 78)
        {
            text.Append((line++ % 10 == 9 ? "." : "x")).Append(new string('a', 75)).Append("\r\n");
        }

        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>Signs as bench/postfix-vs-elemta.sh does: dkimpy, relaxed/relaxed, from, to and subject.</summary>
    private static byte[] Sign(byte[] message, string pem)
    {
        var keyFile = Path.GetTempFileName();
        try
        {
            File.WriteAllText(keyFile, pem);
            var info = new System.Diagnostics.ProcessStartInfo("/usr/bin/python3") { RedirectStandardInput = true, RedirectStandardOutput = true };
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add($$"""
                import sys, dkim, base64
                msg = sys.stdin.buffer.read()
                sig = dkim.sign(msg, b's1', b'{{Domain}}', open('{{keyFile}}', 'rb').read(), include_headers=[b'from', b'to', b'subject'], canonicalize=(b'relaxed', b'relaxed'))
                sys.stdout.write(base64.b64encode(sig.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n') + msg).decode())
                """);
            using var python = System.Diagnostics.Process.Start(info)!;
            python.StandardInput.BaseStream.Write(message);
            python.StandardInput.Close();
            var output = python.StandardOutput.ReadToEnd();
            python.WaitForExit();
            return python.ExitCode == 0 ? Convert.FromBase64String(output) : throw new InvalidOperationException("dkimpy (python3-dkim) could not sign");
        }
        finally
        {
            File.Delete(keyFile);
        }
    }

    /// <summary>The message with one ARC set on top, sealed by Elemta's ArcSealer as a forwarder would.</summary>
    private static byte[] Seal(byte[] message, string pem)
    {
        using var stream = new MemoryStream(message, writable: false);
        var parsed = MimeMessage.Load(stream);
        parsed.Headers.Insert(0, new Header("Authentication-Results", "mx.bench.test; spf=pass smtp.mailfrom=alice@example.org; dkim=pass header.d=example.org"));
        using var key = new MemoryStream(Encoding.ASCII.GetBytes(pem));
        var sealer = new Elemta.MailAuth.Arc.ArcSealer(new Elemta.MailAuth.Arc.ArcSealerSettings { Domain = Domain, Selector = "arc", AuthServId = "mx.bench.test" }, key);
        if (!sealer.SealAsync(parsed, CancellationToken.None).GetAwaiter().GetResult())
        {
            throw new InvalidOperationException("The ARC sealer did not seal.");
        }

        using var output = new MemoryStream();
        parsed.WriteTo(output);
        return output.ToArray();
    }

    /// <summary>The header fields as the SMTP session hands them to plugins: names and unfolded values.</summary>
    private static MessageHeader[] ParseHeaders(byte[] content, out int bodyStart)
    {
        var text = Encoding.Latin1.GetString(content);
        var end = text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        bodyStart = end + 4;
        var fields = new List<MessageHeader>();
        foreach (var line in text[..end].Split("\r\n"))
        {
            if (line.StartsWith(' ') || line.StartsWith('\t'))
            {
                fields[^1] = fields[^1] with { Value = fields[^1].Value + line };
                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            fields.Add(new MessageHeader(line[..colon], line[(colon + 1)..].TrimStart()));
        }

        return [.. fields];
    }

    // The server builds these context objects (their constructors are internal to the plugin API); the benchmark
    // calls the same constructors.
    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    private static extern SessionInfo NewSession(string sessionId, IPEndPoint client, IPEndPoint? local, bool submission);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "set_HeloName")]
    private static extern void SetHeloName(SessionInfo session, string? value);

    [UnsafeAccessor(UnsafeAccessorKind.Method, Name = "set_ServerName")]
    private static extern void SetServerName(SessionInfo session, string value);

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    private static extern MailTransaction NewTransaction(string sender, IReadOnlyList<string> recipients);

    [UnsafeAccessor(UnsafeAccessorKind.Constructor)]
    private static extern MessageContext NewMessage(string messageId, string sender, IReadOnlyList<MessageHeader> headers, ReadOnlyMemory<byte> content, List<string> recipients);

    private sealed class FixedKey(Org.BouncyCastle.Crypto.AsymmetricKeyParameter key) : MimeKit.Cryptography.DkimPublicKeyLocatorBase
    {
        public override Org.BouncyCastle.Crypto.AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) => key;

        public override Task<Org.BouncyCastle.Crypto.AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            Task.FromResult(key);
    }
}
