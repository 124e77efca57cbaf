using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Elemta.Contracts;
using Elemta.Delivery.Smtp;
using Elemta.Delivery.Tls;
using Elemta.Testing;
using static Elemta.Delivery.Tests.DeliveryTestKit;

namespace Elemta.Delivery.Tests;

/// <summary>
/// DANE for SMTP (RFC 7672) against real STARTTLS sinks, with the loopback DNS server playing the operator's validating
/// resolver (the AD bit).
/// </summary>
public sealed class DaneTests : IAsyncLifetime
{
    private const string Domain = "example.net";
    private const string MxHost = "mx.example.net";
    private readonly TestCertificateAuthority _authority = new();
    private readonly List<SmtpSink> _sinks = [];
    private readonly List<SmtpDeliveryAgent> _agents = [];
    private LoopbackDnsServer _dns = null!;

    private static string TlsaName(int port) => $"_{port}._tcp.{MxHost}";

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        foreach (var agent in _agents)
        {
            await agent.DisposeAsync();
        }

        foreach (var sink in _sinks)
        {
            Assert.Empty(sink.Errors);
            await sink.DisposeAsync();
        }

        await _dns.DisposeAsync();
        _authority.Dispose();
    }

    private SmtpSink StartMx(X509Certificate2? certificate, X509Certificate2Collection? chain = null)
    {
        var sink = SmtpSink.Start(NextAddress());
        sink.ServerCertificate = certificate;
        sink.ServerCertificateChain = chain;
        _sinks.Add(sink);
        _dns.AddMx(Domain, 10, MxHost);
        _dns.AddA(MxHost, sink.EndPoint.Address);
        return sink;
    }

    /// <summary>An agent that trusts no private root: whatever verifies here verifies through DANE.</summary>
    private SmtpDeliveryAgent Agent(int port, Action<DeliveryOptions>? configure = null)
    {
        var options = DeliveryOptionsFor(port);
        configure?.Invoke(options);
        var agent = DeliveryTestKit.Agent(_dns, options);
        _agents.Add(agent);
        return agent;
    }

    private static Task<DeliveryAttempt> Send(SmtpDeliveryAgent agent, bool requireTls = false) =>
        agent.DeliverAsync(Work(Domain, "sender@origin.test", "a@example.net") with { RequireTls = requireTls }, SimpleMessage("a@example.net"), Token());

    private static byte[] Spki(X509Certificate2 certificate) => certificate.PublicKey.ExportSubjectPublicKeyInfo();

    [Fact]
    public async Task DANE_EE_match_delivers_whatever_the_name_and_dates_of_the_certificate_and_records_dane_ee()
    {
        // Expired, for another name, self-signed: all of it is irrelevant under DANE-EE (RFC 7672 section 3.1.1).
        using var certificate = SelfSigned("unrelated.example.org", DateTimeOffset.UtcNow.AddYears(-2), DateTimeOffset.UtcNow.AddYears(-1));
        var sink = StartMx(certificate);
        _dns.AddTlsa(TlsaName(sink.Port), 3, 1, 1, SHA256.HashData(Spki(certificate)));
        _dns.AuthenticateAll = true;

        var attempt = await Send(Agent(sink.Port));

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Delivered, result.Outcome);
        Assert.Matches(@"^TLSv1\.[23] TLS_\w+ dane-ee$", attempt.Tls);
        Assert.NotNull(Assert.Single(sink.Messages).TlsProtocol);
        Assert.Contains(new DnsQuestion(TlsaName(sink.Port), DnsRecordType.TLSA), _dns.Queries);
    }

    [Theory]
    [InlineData(0, 0)]
    [InlineData(0, 1)]
    [InlineData(0, 2)]
    [InlineData(1, 0)]
    [InlineData(1, 2)]
    public async Task DANE_EE_matches_every_selector_and_matching_type(byte selector, byte matchingType)
    {
        using var certificate = SelfSigned(MxHost);
        var sink = StartMx(certificate);
        var selected = selector == 0 ? certificate.RawData : Spki(certificate);
        var data = matchingType switch
        {
            1 => SHA256.HashData(selected),
            2 => SHA512.HashData(selected),
            _ => selected,
        };
        _dns.AddTlsa(TlsaName(sink.Port), 3, selector, matchingType, data);
        _dns.AuthenticateAll = true;

        var attempt = await Send(Agent(sink.Port));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" dane-ee", attempt.Tls, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Certificate_matching_no_TLSA_record_is_a_transient_TLS_failure_and_nothing_is_sent()
    {
        // A certificate that verifies under PKIX (and would be trusted with Verify) does not help: TLSA records decide.
        var sink = StartMx(_authority.IssueServerCertificate(MxHost));
        using var other = SelfSigned(MxHost);
        _dns.AddTlsa(TlsaName(sink.Port), 3, 1, 1, SHA256.HashData(Spki(other)));
        _dns.AuthenticateAll = true;
        var rootPem = _authority.WriteRootPemFile();
        try
        {
            var attempt = await Send(Agent(sink.Port, o => o.TrustedCertificateAuthorities = rootPem));

            var result = Assert.Single(attempt.Results);
            Assert.Equal(RecipientOutcome.Transient, result.Outcome);
            Assert.Equal(DeliveryError.Tls, result.Error);
            Assert.StartsWith("451 4.7.5 DANE:", result.Reply, StringComparison.Ordinal);
            Assert.Contains("TLSA", result.Reply, StringComparison.Ordinal);
            Assert.Empty(sink.Messages);
        }
        finally
        {
            File.Delete(rootPem);
        }
    }

    [Fact]
    public async Task Usable_TLSA_makes_STARTTLS_mandatory()
    {
        var sink = StartMx(certificate: null);
        _dns.AddTlsa(TlsaName(sink.Port), 3, 1, 1, new byte[32]);
        _dns.AuthenticateAll = true;

        var attempt = await Send(Agent(sink.Port));

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Tls, result.Error);
        Assert.StartsWith("451 4.7.5 DANE:", result.Reply, StringComparison.Ordinal);
        Assert.Contains("STARTTLS", result.Reply, StringComparison.Ordinal);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task DANE_TA_on_an_intermediate_key_delivers_and_records_dane_ta()
    {
        using var intermediate = IssueIntermediate(_authority.Root, "Elemta Test Intermediate");
        using var leaf = IssueLeaf(intermediate, MxHost);
        var sink = StartMx(leaf, [intermediate]);
        _dns.AddTlsa(TlsaName(sink.Port), 2, 1, 1, SHA256.HashData(Spki(intermediate)));
        _dns.AuthenticateAll = true;

        var attempt = await Send(Agent(sink.Port));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Matches(@"^TLSv1\.[23] TLS_\w+ dane-ta$", attempt.Tls);
    }

    [Fact]
    public async Task DANE_TA_full_certificate_record_is_an_anchor_the_server_need_not_send()
    {
        var sink = StartMx(_authority.IssueServerCertificate(MxHost));
        _dns.AddTlsa(TlsaName(sink.Port), 2, 0, 0, _authority.Root.RawData);
        _dns.AuthenticateAll = true;

        var attempt = await Send(Agent(sink.Port));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" dane-ta", attempt.Tls, StringComparison.Ordinal);
    }

    [Fact]
    public async Task DANE_TA_still_checks_the_MX_host_name()
    {
        var sink = StartMx(_authority.IssueServerCertificate("other.example.net"));
        _dns.AddTlsa(TlsaName(sink.Port), 2, 0, 0, _authority.Root.RawData);
        _dns.AuthenticateAll = true;

        var attempt = await Send(Agent(sink.Port));

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Tls, result.Error);
        Assert.Empty(sink.Messages);
    }

    [Fact]
    public async Task TLSA_answer_without_the_AD_bit_is_ignored()
    {
        using var certificate = SelfSigned(MxHost);
        var sink = StartMx(certificate);
        _dns.AddTlsa(TlsaName(sink.Port), 3, 1, 1, new byte[32]);
        _dns.SetAuthenticated(Domain);
        _dns.SetAuthenticated(MxHost);

        var attempt = await Send(Agent(sink.Port));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" unverified", attempt.Tls, StringComparison.Ordinal);
    }

    [Fact]
    public async Task MX_answer_without_the_AD_bit_means_no_TLSA_lookup()
    {
        using var certificate = SelfSigned(MxHost);
        var sink = StartMx(certificate);
        _dns.AddTlsa(TlsaName(sink.Port), 3, 1, 1, new byte[32]);
        _dns.SetAuthenticated(MxHost);
        _dns.SetAuthenticated(TlsaName(sink.Port));

        var attempt = await Send(Agent(sink.Port));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" unverified", attempt.Tls, StringComparison.Ordinal);
        Assert.DoesNotContain(_dns.Queries, q => q.Type == DnsRecordType.TLSA);
    }

    [Fact]
    public async Task Only_unusable_TLSA_records_mean_no_DANE_but_mandatory_TLS()
    {
        using var certificate = SelfSigned(MxHost);
        var withTls = StartMx(certificate);
        // PKIX-EE(1) and PKIX-TA(0) are unusable for SMTP (RFC 7672 section 3.1.3).
        _dns.AddTlsa(TlsaName(withTls.Port), 1, 1, 1, new byte[32]);
        _dns.AddTlsa(TlsaName(withTls.Port), 0, 0, 1, new byte[32]);
        _dns.AuthenticateAll = true;

        var encrypted = await Send(Agent(withTls.Port));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(encrypted.Results).Outcome);
        Assert.EndsWith(" unverified", encrypted.Tls, StringComparison.Ordinal);

        withTls.ServerCertificate = null;
        var plaintextOnly = await Send(Agent(withTls.Port));

        var result = Assert.Single(plaintextOnly.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Tls, result.Error);
        Assert.Single(withTls.Messages);
    }

    [Fact]
    public async Task Failed_TLSA_lookup_in_a_signed_zone_skips_the_host()
    {
        var sink = StartMx(certificate: null);
        _dns.SetServerFailure(TlsaName(sink.Port));
        _dns.AuthenticateAll = true;

        var attempt = await Send(Agent(sink.Port));

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Dns, result.Error);
        Assert.StartsWith("451 4.4.3 DANE:", result.Reply, StringComparison.Ordinal);
        Assert.Equal(0, sink.ConnectionCount);
    }

    [Fact]
    public async Task Disabled_DANE_looks_up_no_TLSA_records()
    {
        using var certificate = SelfSigned(MxHost);
        var sink = StartMx(certificate);
        _dns.AddTlsa(TlsaName(sink.Port), 3, 1, 1, new byte[32]);
        _dns.AuthenticateAll = true;

        var attempt = await Send(Agent(sink.Port, o => o.Dane.Enabled = false));

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" unverified", attempt.Tls, StringComparison.Ordinal);
        Assert.DoesNotContain(_dns.Queries, q => q.Type == DnsRecordType.TLSA);
    }

    [Fact]
    public async Task DANE_match_satisfies_REQUIRETLS()
    {
        using var certificate = SelfSigned(MxHost);
        var sink = StartMx(certificate);
        sink.AdvertiseRequireTls = true;
        _dns.AddTlsa(TlsaName(sink.Port), 3, 1, 1, SHA256.HashData(Spki(certificate)));
        _dns.AuthenticateAll = true;

        var attempt = await Send(Agent(sink.Port), requireTls: true);

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.EndsWith(" dane-ee", attempt.Tls, StringComparison.Ordinal);
    }

    [Fact]
    public void Unusable_records_are_recognised_by_usage_selector_matching_type_and_digest_length()
    {
        Assert.True(DaneResolver.IsUsable(new(DnsClient.Protocol.TlsaCertificateUsage.DANEEE, DnsClient.Protocol.TlsaSelector.PublicKey, DnsClient.Protocol.TlsaMatchingType.SHA256, new byte[32])));
        Assert.False(DaneResolver.IsUsable(new(DnsClient.Protocol.TlsaCertificateUsage.DANEEE, DnsClient.Protocol.TlsaSelector.PublicKey, DnsClient.Protocol.TlsaMatchingType.SHA256, new byte[31])));
        Assert.False(DaneResolver.IsUsable(new(DnsClient.Protocol.TlsaCertificateUsage.PKIXEE, DnsClient.Protocol.TlsaSelector.PublicKey, DnsClient.Protocol.TlsaMatchingType.SHA256, new byte[32])));
        Assert.False(DaneResolver.IsUsable(new(DnsClient.Protocol.TlsaCertificateUsage.DANETA, (DnsClient.Protocol.TlsaSelector)2, DnsClient.Protocol.TlsaMatchingType.SHA256, new byte[32])));
        Assert.False(DaneResolver.IsUsable(new(DnsClient.Protocol.TlsaCertificateUsage.DANETA, DnsClient.Protocol.TlsaSelector.FullCertificate, (DnsClient.Protocol.TlsaMatchingType)3, new byte[32])));
    }

    private static X509Certificate2 SelfSigned(string host, DateTimeOffset? notBefore = null, DateTimeOffset? notAfter = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(host);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(notBefore ?? DateTimeOffset.UtcNow.AddHours(-1), notAfter ?? DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
    }

    private static X509Certificate2 IssueIntermediate(X509Certificate2 issuer, string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: true, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var issued = request.Create(issuer, DateTimeOffset.UtcNow.AddHours(-2), DateTimeOffset.UtcNow.AddDays(60), Serial());
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
    }

    private static X509Certificate2 IssueLeaf(X509Certificate2 issuer, string host)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={host}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(host);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(issuer, true, false));
        using var issued = request.Create(issuer, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), Serial());
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
    }

    private static byte[] Serial()
    {
        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        return serial;
    }
}
