using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using DnsClient;
using DnsClient.Protocol;

namespace Elemta.Testing.Tests;

/// <summary>The DNS server answering a real, independent resolver client (DnsClient.NET) and raw packets.</summary>
public sealed class LoopbackDnsServerTests
{
    [Fact]
    public async Task MX_records_resolve_with_preference_and_exchange()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddMx("example.com", 10, "mx1.example.com");
        server.AddMx("Example.COM.", 20, "MX2.example.com.", ttl: 60);

        var response = await Client(server).QueryAsync("example.com", QueryType.MX, cancellationToken: TestTimeouts.Token());

        Assert.False(response.HasError, response.ErrorMessage);
        Assert.True(response.Header.HasAuthorityAnswer);
        var mx = response.Answers.MxRecords().OrderBy(r => r.Preference).ToArray();
        Assert.Equal(2, mx.Length);
        Assert.Equal(10, mx[0].Preference);
        Assert.Equal("mx1.example.com.", mx[0].Exchange.Value);
        Assert.Equal(20, mx[1].Preference);
        Assert.Equal("mx2.example.com.", mx[1].Exchange.Value);
        Assert.Equal(300, mx[0].InitialTimeToLive);
        Assert.Equal(60, mx[1].InitialTimeToLive);
    }

    [Fact]
    public async Task Negative_answers_carry_the_SOA_of_the_enclosing_zone()
    {
        await using var server = LoopbackDnsServer.Start();
        server.SetSoa("example.com", minimum: 120, ttl: 600);
        server.AddA("host.example.com", IPAddress.Parse("127.0.0.2"));
        var client = Client(server);

        var nxdomain = await client.QueryAsync("gone.sub.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        var nodata = await client.QueryAsync("host.example.com", QueryType.AAAA, cancellationToken: TestTimeouts.Token());
        var positive = await client.QueryAsync("host.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        var outside = await client.QueryAsync("gone.example.org", QueryType.A, cancellationToken: TestTimeouts.Token());

        Assert.Equal(DnsHeaderResponseCode.NotExistentDomain, nxdomain.Header.ResponseCode);
        var soa = Assert.Single(nxdomain.Authorities.OfType<SoaRecord>());
        Assert.Equal("example.com.", soa.DomainName.Value);
        Assert.Equal(120u, soa.Minimum);
        Assert.Equal(600, soa.InitialTimeToLive);
        Assert.Single(nodata.Authorities.OfType<SoaRecord>());
        Assert.Empty(positive.Authorities);
        Assert.Empty(outside.Authorities);
    }

    [Fact]
    public async Task Null_MX_comes_back_as_the_root_name()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddMx("nomail.example", 0, ".");

        var response = await Client(server).QueryAsync("nomail.example", QueryType.MX, cancellationToken: TestTimeouts.Token());

        var mx = Assert.Single(response.Answers.MxRecords());
        Assert.Equal(0, mx.Preference);
        Assert.Equal(".", mx.Exchange.Value);
    }

    [Fact]
    public async Task A_and_AAAA_records_resolve()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddA("mx.example.com", IPAddress.Parse("127.0.0.2"));
        server.AddA("mx.example.com", IPAddress.Parse("127.0.0.3"));
        server.AddAaaa("mx.example.com", IPAddress.IPv6Loopback);
        var client = Client(server);

        var a = await client.QueryAsync("MX.Example.Com", QueryType.A, cancellationToken: TestTimeouts.Token());
        var aaaa = await client.QueryAsync("mx.example.com.", QueryType.AAAA, cancellationToken: TestTimeouts.Token());

        Assert.Equal(
            [IPAddress.Parse("127.0.0.2"), IPAddress.Parse("127.0.0.3")],
            a.Answers.ARecords().Select(r => r.Address).OrderBy(x => x.ToString()));
        Assert.Equal(IPAddress.IPv6Loopback, Assert.Single(aaaa.Answers.AaaaRecords()).Address);
    }

    [Fact]
    public async Task TXT_records_resolve_and_long_text_is_split_into_strings()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddTxt("example.com", "v=spf1 ip4:127.0.0.1 -all");
        var longText = "v=DKIM1; k=rsa; p=" + new string('A', 400);
        server.AddTxt("sel._domainkey.example.com", longText);
        var client = Client(server);

        var spf = await client.QueryAsync("example.com", QueryType.TXT, cancellationToken: TestTimeouts.Token());
        var dkim = await client.QueryAsync("sel._domainkey.example.com", QueryType.TXT, cancellationToken: TestTimeouts.Token());

        Assert.Equal(["v=spf1 ip4:127.0.0.1 -all"], Assert.Single(spf.Answers.TxtRecords()).Text);
        var strings = Assert.Single(dkim.Answers.TxtRecords()).Text;
        Assert.Equal(2, strings.Count);
        Assert.Equal(longText, string.Concat(strings));
    }

    [Fact]
    public async Task Unknown_and_NXDOMAIN_names_answer_NXDOMAIN()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddA("gone.example.com", IPAddress.Parse("127.0.0.2"));
        server.SetNxDomain("gone.example.com");
        var client = Client(server);

        var unknown = await client.QueryAsync("unknown.example.com", QueryType.MX, cancellationToken: TestTimeouts.Token());
        var gone = await client.QueryAsync("gone.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());

        Assert.Equal(DnsHeaderResponseCode.NotExistentDomain, unknown.Header.ResponseCode);
        Assert.Empty(unknown.Answers);
        Assert.Equal(DnsHeaderResponseCode.NotExistentDomain, gone.Header.ResponseCode);
        Assert.Empty(gone.Answers);
    }

    [Fact]
    public async Task Known_name_without_the_asked_type_answers_NODATA()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddA("host.example.com", IPAddress.Parse("127.0.0.2"));
        var client = Client(server);

        var mx = await client.QueryAsync("host.example.com", QueryType.MX, cancellationToken: TestTimeouts.Token());
        var srv = await client.QueryAsync("host.example.com", QueryType.SRV, cancellationToken: TestTimeouts.Token());

        Assert.False(mx.HasError, mx.ErrorMessage);
        Assert.Equal(DnsHeaderResponseCode.NoError, mx.Header.ResponseCode);
        Assert.Empty(mx.Answers);
        Assert.Equal(DnsHeaderResponseCode.NoError, srv.Header.ResponseCode);
        Assert.Empty(srv.Answers);
    }

    [Fact]
    public async Task Remove_and_SetServerFailure_change_the_answers_at_run_time()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddA("host.example.com", IPAddress.Parse("127.0.0.2"));
        var client = Client(server);
        Assert.Single((await client.QueryAsync("host.example.com", QueryType.A, cancellationToken: TestTimeouts.Token())).Answers);

        server.SetServerFailure("host.example.com");
        var failed = await client.QueryAsync("host.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        Assert.Equal(DnsHeaderResponseCode.ServerFailure, failed.Header.ResponseCode);

        server.Remove("host.example.com.");
        var removed = await client.QueryAsync("host.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        Assert.Equal(DnsHeaderResponseCode.NotExistentDomain, removed.Header.ResponseCode);
    }

    [Fact]
    public async Task Query_log_shows_whether_a_client_cache_was_used()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddMx("example.com", 10, "mx.example.com");
        var caching = new LookupClient(new LookupClientOptions(server.EndPoint)
        {
            UseCache = true, Retries = 0, Timeout = TimeSpan.FromSeconds(2),
        });

        await caching.QueryAsync("example.com", QueryType.MX, cancellationToken: TestTimeouts.Token());
        await caching.QueryAsync("example.com", QueryType.MX, cancellationToken: TestTimeouts.Token());
        await Client(server).QueryAsync("EXAMPLE.com", QueryType.A, cancellationToken: TestTimeouts.Token());

        Assert.Equal(2, server.QueryCount);
        Assert.Equal(
            [new DnsQuestion("example.com", DnsRecordType.MX), new DnsQuestion("example.com", DnsRecordType.A)],
            server.Queries);

        server.ClearQueries();
        Assert.Equal(0, server.QueryCount);
    }

    [Fact]
    public async Task Queries_over_TCP_are_answered()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddMx("example.com", 5, "mx.example.com");
        var tcpOnly = new LookupClient(new LookupClientOptions(server.EndPoint)
        {
            UseCache = false, Retries = 0, Timeout = TimeSpan.FromSeconds(2), UseTcpOnly = true,
        });

        var response = await tcpOnly.QueryAsync("example.com", QueryType.MX, cancellationToken: TestTimeouts.Token());

        Assert.Equal("mx.example.com.", Assert.Single(response.Answers.MxRecords()).Exchange.Value);
    }

    [Fact]
    public async Task Oversized_UDP_answer_is_truncated_and_the_client_retries_over_TCP()
    {
        await using var server = LoopbackDnsServer.Start();
        for (var i = 1; i <= 60; i++)
        {
            server.AddA("big.example.com", IPAddress.Parse($"127.0.1.{i}"));
        }

        // 60 A records are about 1 KB: over the 512-byte limit of a query without EDNS, so the UDP answer is
        // empty with TC set and DnsClient falls back to TCP.
        var classic = new LookupClient(new LookupClientOptions(server.EndPoint)
        {
            UseCache = false, Retries = 0, Timeout = TimeSpan.FromSeconds(2), ExtendedDnsBufferSize = 512,
        });
        var response = await classic.QueryAsync("big.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());

        Assert.Equal(60, response.Answers.ARecords().Count());
        Assert.Equal(2, server.QueryCount);

        // With EDNS(0) and DnsClient's default 4096-byte buffer, it fits in one UDP answer.
        server.ClearQueries();
        var edns = await Client(server).QueryAsync("big.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        Assert.Equal(60, edns.Answers.ARecords().Count());
        Assert.Equal(1, server.QueryCount);
    }

    [Fact]
    public async Task Raw_query_without_EDNS_gets_TC_when_the_answer_does_not_fit()
    {
        await using var server = LoopbackDnsServer.Start();
        for (var i = 1; i <= 60; i++)
        {
            server.AddA("big.example.com", IPAddress.Parse($"127.0.1.{i}"));
        }

        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var query = RawQuery(0x1234, "big.example.com", DnsRecordType.A);
        await udp.SendAsync(query, server.EndPoint, TestTimeouts.Token());
        var response = (await udp.ReceiveAsync(TestTimeouts.Token())).Buffer;

        Assert.Equal(0x1234, BinaryPrimitives.ReadUInt16BigEndian(response));
        var flags = BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(2));
        Assert.NotEqual(0, flags & 0x8000); // QR
        Assert.NotEqual(0, flags & 0x0200); // TC
        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(6))); // ANCOUNT
        Assert.True(response.Length <= 512);
    }

    [Fact]
    public async Task TLSA_records_resolve_with_usage_selector_matching_type_and_data()
    {
        await using var server = LoopbackDnsServer.Start();
        byte[] digest = [.. Enumerable.Range(1, 32).Select(i => (byte)i)];
        server.AddTlsa("_25._tcp.mx.example.com", 3, 1, 1, digest);
        server.AddTlsa("_25._tcp.mx.example.com", 2, 0, 2, new byte[64]);

        var response = await Client(server).QueryAsync("_25._tcp.mx.example.com", QueryType.TLSA, cancellationToken: TestTimeouts.Token());

        Assert.False(response.HasError, response.ErrorMessage);
        var records = response.Answers.TlsaRecords().OrderByDescending(r => r.CertificateUsage).ToArray();
        Assert.Equal(2, records.Length);
        Assert.Equal(TlsaCertificateUsage.DANEEE, records[0].CertificateUsage);
        Assert.Equal(TlsaSelector.PublicKey, records[0].Selector);
        Assert.Equal(TlsaMatchingType.SHA256, records[0].MatchingType);
        Assert.Equal(digest, records[0].CertificateAssociationData);
        Assert.Equal(TlsaCertificateUsage.DANETA, records[1].CertificateUsage);
        Assert.Equal(TlsaSelector.FullCertificate, records[1].Selector);
        Assert.Equal(TlsaMatchingType.SHA512, records[1].MatchingType);
    }

    [Fact]
    public async Task AD_bit_is_set_for_authenticated_names_only_when_the_query_asks_with_DO()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddA("signed.example.com", IPAddress.Parse("127.0.0.2"));
        server.AddA("unsigned.example.com", IPAddress.Parse("127.0.0.3"));
        server.SetAuthenticated("signed.example.com");
        var dnssec = new LookupClient(new LookupClientOptions(server.EndPoint)
        {
            UseCache = false, Retries = 0, Timeout = TimeSpan.FromSeconds(2), RequestDnsSecRecords = true,
        });

        var signed = await dnssec.QueryAsync("signed.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        var unsigned = await dnssec.QueryAsync("unsigned.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        var withoutDo = await Client(server).QueryAsync("signed.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        server.SetAuthenticated("signed.example.com", authenticated: false);
        var revoked = await dnssec.QueryAsync("signed.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());

        Assert.True(signed.Header.IsAuthenticData);
        Assert.Single(signed.Answers.ARecords());
        Assert.False(unsigned.Header.IsAuthenticData);
        Assert.False(withoutDo.Header.IsAuthenticData);
        Assert.False(revoked.Header.IsAuthenticData);
    }

    [Fact]
    public async Task AuthenticateAll_sets_AD_on_answers_and_denials_but_never_on_failures()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddMx("example.com", 10, "mx.example.com");
        server.SetServerFailure("broken.example.com");
        server.AuthenticateAll = true;
        var dnssec = new LookupClient(new LookupClientOptions(server.EndPoint)
        {
            UseCache = false, Retries = 0, Timeout = TimeSpan.FromSeconds(2), RequestDnsSecRecords = true,
        });

        var positive = await dnssec.QueryAsync("example.com", QueryType.MX, cancellationToken: TestTimeouts.Token());
        var nodata = await dnssec.QueryAsync("example.com", QueryType.TLSA, cancellationToken: TestTimeouts.Token());
        var nxdomain = await dnssec.QueryAsync("gone.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        var failure = await dnssec.QueryAsync("broken.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());

        Assert.True(positive.Header.IsAuthenticData);
        Assert.True(nodata.Header.IsAuthenticData);
        Assert.True(nxdomain.Header.IsAuthenticData);
        Assert.Equal(DnsHeaderResponseCode.ServerFailure, failure.Header.ResponseCode);
        Assert.False(failure.Header.IsAuthenticData);
    }

    [Fact]
    public async Task Raw_query_with_the_AD_bit_and_no_EDNS_gets_AD_back()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddA("signed.example.com", IPAddress.Parse("127.0.0.2"));
        server.SetAuthenticated("signed.example.com");
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));
        var plain = RawQuery(0x0101, "signed.example.com", DnsRecordType.A);
        var withAd = RawQuery(0x0102, "signed.example.com", DnsRecordType.A);
        withAd[3] |= 0x20;

        await udp.SendAsync(plain, server.EndPoint, TestTimeouts.Token());
        var plainResponse = (await udp.ReceiveAsync(TestTimeouts.Token())).Buffer;
        await udp.SendAsync(withAd, server.EndPoint, TestTimeouts.Token());
        var adResponse = (await udp.ReceiveAsync(TestTimeouts.Token())).Buffer;

        Assert.Equal(0, BinaryPrimitives.ReadUInt16BigEndian(plainResponse.AsSpan(2)) & 0x0020);
        Assert.NotEqual(0, BinaryPrimitives.ReadUInt16BigEndian(adResponse.AsSpan(2)) & 0x0020);
    }

    [Fact]
    public async Task Malformed_packets_are_dropped_and_the_server_keeps_answering()
    {
        await using var server = LoopbackDnsServer.Start();
        server.AddA("ok.example.com", IPAddress.Parse("127.0.0.2"));
        using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, 0));

        var pointerLoop = RawQuery(2, "x", DnsRecordType.A);
        pointerLoop[12] = 0xC0; // the question name points at itself
        pointerLoop[13] = 12;
        var asResponse = RawQuery(3, "ok.example.com", DnsRecordType.A);
        asResponse[2] |= 0x80; // QR set: a response, which must never be answered
        var truncatedQuestion = RawQuery(4, "ok.example.com", DnsRecordType.A)[..20];
        var badLabel = RawQuery(5, "ok.example.com", DnsRecordType.A);
        badLabel[12] = 0x50; // reserved label type
        var garbage = new byte[300];
        new Random(42).NextBytes(garbage);
        garbage[2] = 0; // keep QR clear so the parser really has to reject it

        foreach (var packet in new[] { new byte[] { 1, 2, 3 }, pointerLoop, asResponse, truncatedQuestion, badLabel, garbage })
        {
            await udp.SendAsync(packet, server.EndPoint, TestTimeouts.Token());
        }

        // Datagrams are handled in order, so if any bad packet had been answered that answer would come first.
        await udp.SendAsync(RawQuery(0x7777, "ok.example.com", DnsRecordType.A), server.EndPoint, TestTimeouts.Token());
        var response = (await udp.ReceiveAsync(TestTimeouts.Token())).Buffer;
        Assert.Equal(0x7777, BinaryPrimitives.ReadUInt16BigEndian(response));
        Assert.Equal(1, BinaryPrimitives.ReadUInt16BigEndian(response.AsSpan(6)));

        var answer = await Client(server).QueryAsync("ok.example.com", QueryType.A, cancellationToken: TestTimeouts.Token());
        Assert.Single(answer.Answers.ARecords());
        Assert.Empty(server.Errors);
    }

    [Fact]
    public async Task Fixed_port_and_invalid_zone_data_are_handled()
    {
        var port = FreePort.GetUdpPort();
        await using var server = LoopbackDnsServer.Start(port);
        Assert.Equal(new IPEndPoint(IPAddress.Loopback, port), server.EndPoint);

        Assert.Throws<ArgumentException>(() => server.AddA("host.example.com", IPAddress.IPv6Loopback));
        Assert.Throws<ArgumentException>(() => server.AddAaaa("host.example.com", IPAddress.Loopback));
        Assert.Throws<ArgumentException>(() => server.AddA("bad..name", IPAddress.Loopback));
        Assert.Throws<ArgumentException>(() => server.AddA(new string('a', 64) + ".example", IPAddress.Loopback));
    }

    private static LookupClient Client(LoopbackDnsServer server) =>
        new(new LookupClientOptions(server.EndPoint) { UseCache = false, Retries = 0, Timeout = TimeSpan.FromSeconds(2) });

    /// <summary>A minimal RFC 1035 query without EDNS.</summary>
    private static byte[] RawQuery(ushort id, string name, DnsRecordType type)
    {
        var packet = new List<byte> { (byte)(id >> 8), (byte)id, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0 };
        foreach (var label in name.Split('.'))
        {
            packet.Add((byte)label.Length);
            packet.AddRange(System.Text.Encoding.ASCII.GetBytes(label));
        }

        packet.AddRange([0, 0, (byte)type, 0, 1]);
        return packet.ToArray();
    }
}
