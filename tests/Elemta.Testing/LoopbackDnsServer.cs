using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Elemta.Testing.Internal;

namespace Elemta.Testing;

/// <summary>
/// A real authoritative DNS server on 127.0.0.1 (UDP, and TCP on the same port), speaking the RFC 1035 wire
/// format, whose zone data tests set at run time.
/// </summary>
/// <remarks>
/// <para>
/// Answers for a name: records of the asked type give NOERROR with those answers and AA set; a name with
/// records but none of the asked type gives NOERROR with no answers (NODATA, RFC 2308); a name without any
/// records, or set with <see cref="SetNxDomain"/>, gives NXDOMAIN. Empty non-terminals are not synthesized
/// (a parent of a configured name is unknown unless it has records itself), no wildcards and no CNAME chasing.
/// Negative answers carry the SOA of the closest enclosing zone set with <see cref="SetSoa"/>, if any, as
/// RFC 2308 section 3 requires for them to be cacheable. QTYPEs with no record support answer NODATA for a known name.
/// </para>
/// <para>
/// The server can play a validating resolver: names marked with <see cref="SetAuthenticated"/> (or every name, with
/// <see cref="AuthenticateAll"/>) get the AD bit (RFC 4035 section 3.2.3) on their NOERROR and NXDOMAIN answers, but only
/// when the query asked for it with the DO bit or the AD bit (RFC 6840 section 5.7 and 5.8), as such resolvers do.
/// </para>
/// <para>
/// Over UDP a response larger than the requester's limit (512 bytes, or its EDNS(0) payload size) is
/// replaced by an empty one with TC set so the client retries over TCP (RFC 1035 section 4.2.1,
/// RFC 6891 section 6.2.5). Malformed packets, and anything but a standard query (OPCODE 0) with exactly one question, are dropped
/// without a reply.
/// </para>
/// </remarks>
public sealed class LoopbackDnsServer : IAsyncDisposable
{
    /// <summary>The UDP payload size this server advertises and accepts at most (RFC 6891 section 6.2.5).</summary>
    private const int MaxUdpPayload = 4096;

    /// <summary>RFC 1035 section 4.2.1: the UDP limit for requesters that do not use EDNS(0).</summary>
    private const int ClassicUdpPayload = 512;

    private readonly Socket _udp;
    private readonly TcpListener _tcp;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly Lock _gate = new();
    private readonly Dictionary<string, ZoneNode> _zone = new(StringComparer.Ordinal);
    private readonly List<DnsQuestion> _queries = [];
    private readonly Dictionary<string, ZoneRecord> _soas = new(StringComparer.Ordinal);
    private readonly HashSet<string> _authenticated = new(StringComparer.Ordinal);
    private volatile bool _authenticateAll;
    private readonly ConcurrentDictionary<long, TcpConnection> _connections = new();
    private readonly ConcurrentQueue<Exception> _errors = new();
    private Task _udpLoop = Task.CompletedTask;
    private Task _tcpLoop = Task.CompletedTask;
    private long _nextConnectionId;
    private int _disposed;

    private LoopbackDnsServer(Socket udp, TcpListener tcp)
    {
        _udp = udp;
        _tcp = tcp;
        EndPoint = (IPEndPoint)udp.LocalEndPoint!;
    }

    private enum NodeMode
    {
        Records,
        NxDomain,
        ServerFailure,
        NoResponse,
    }

    /// <summary>
    /// Starts a server on 127.0.0.1, UDP and TCP on the same <paramref name="port"/>
    /// (0: an ephemeral port free for both protocols).
    /// </summary>
    /// <param name="port">The port, or 0 for an ephemeral one.</param>
    public static LoopbackDnsServer Start(int port = 0)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(port);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, IPEndPoint.MaxPort);

        // The ephemeral UDP port may be taken for TCP by something else: then try another one.
        const int Attempts = 20;
        for (var attempt = 1; ; attempt++)
        {
            var udp = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                udp.Bind(new IPEndPoint(IPAddress.Loopback, port));
                var tcp = new TcpListener(IPAddress.Loopback, ((IPEndPoint)udp.LocalEndPoint!).Port);
                tcp.Start();
                var server = new LoopbackDnsServer(udp, tcp);
                var token = server._shutdown.Token;
                server._udpLoop = Task.Run(() => server.UdpLoopAsync(token), CancellationToken.None);
                server._tcpLoop = Task.Run(() => server.TcpAcceptLoopAsync(token), CancellationToken.None);
                return server;
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse
                                             && port == 0 && attempt < Attempts)
            {
                udp.Dispose();
            }
            catch
            {
                udp.Dispose();
                throw;
            }
        }
    }

    /// <summary>The address (127.0.0.1) and port the server answers on, for both UDP and TCP.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>The port the server answers on.</summary>
    public int Port => EndPoint.Port;

    /// <summary>
    /// The number of well-formed queries received (over UDP and TCP; a truncated UDP answer retried over TCP
    /// counts twice).
    /// </summary>
    public int QueryCount
    {
        get
        {
            lock (_gate)
            {
                return _queries.Count;
            }
        }
    }

    /// <summary>A snapshot of the questions received, in arrival order.</summary>
    public IReadOnlyList<DnsQuestion> Queries
    {
        get
        {
            lock (_gate)
            {
                return _queries.ToArray();
            }
        }
    }

    /// <summary>Unexpected failures while serving (malformed packets are not errors). Tests may assert this is empty.</summary>
    public IReadOnlyList<Exception> Errors => _errors.ToArray();

    /// <summary>
    /// Whether every answer counts as DNSSEC-validated (AD bit), as if this were a validating resolver and every zone
    /// were signed. Names marked with <see cref="SetAuthenticated"/> get the AD bit either way.
    /// </summary>
    public bool AuthenticateAll
    {
        get => _authenticateAll;
        set => _authenticateAll = value;
    }

    /// <summary>
    /// Marks answers for <paramref name="name"/> (every type, positive and negative) as DNSSEC-validated (AD bit), or,
    /// with <paramref name="authenticated"/> false, as insecure again. Independent of the name's records.
    /// </summary>
    /// <param name="name">The owner name.</param>
    /// <param name="authenticated">Whether answers for the name carry the AD bit.</param>
    public void SetAuthenticated(string name, bool authenticated = true)
    {
        var key = DnsWire.NormalizeName(name, nameof(name));
        lock (_gate)
        {
            if (authenticated)
            {
                _authenticated.Add(key);
            }
            else
            {
                _authenticated.Remove(key);
            }
        }
    }

    /// <summary>Forgets the questions received so far (<see cref="QueryCount"/> restarts at 0).</summary>
    public void ClearQueries()
    {
        lock (_gate)
        {
            _queries.Clear();
        }
    }

    /// <summary>Adds an MX record (RFC 1035 section 3.3.9).</summary>
    /// <param name="domain">The owner name.</param>
    /// <param name="preference">The preference; lower is tried first.</param>
    /// <param name="exchange">The mail exchanger's host name, or "." for a null MX (RFC 7505).</param>
    /// <param name="ttl">The TTL in seconds.</param>
    public void AddMx(string domain, ushort preference, string exchange, int ttl = 300)
    {
        var encodedExchange = DnsWire.EncodeName(DnsWire.NormalizeName(exchange, nameof(exchange)));
        var data = new byte[2 + encodedExchange.Length];
        BinaryPrimitives.WriteUInt16BigEndian(data, preference);
        encodedExchange.CopyTo(data, 2);
        AddRecord(domain, nameof(domain), DnsRecordType.MX, ttl, data);
    }

    /// <summary>Adds an A record (RFC 1035 section 3.4.1).</summary>
    /// <param name="name">The owner name.</param>
    /// <param name="address">An IPv4 address.</param>
    /// <param name="ttl">The TTL in seconds.</param>
    public void AddA(string name, IPAddress address, int ttl = 300)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"An A record needs an IPv4 address, not {address}.", nameof(address));
        }

        AddRecord(name, nameof(name), DnsRecordType.A, ttl, address.GetAddressBytes());
    }

    /// <summary>Adds an AAAA record (RFC 3596).</summary>
    /// <param name="name">The owner name.</param>
    /// <param name="address">An IPv6 address.</param>
    /// <param name="ttl">The TTL in seconds.</param>
    public void AddAaaa(string name, IPAddress address, int ttl = 300)
    {
        ArgumentNullException.ThrowIfNull(address);
        if (address.AddressFamily != AddressFamily.InterNetworkV6)
        {
            throw new ArgumentException($"An AAAA record needs an IPv6 address, not {address}.", nameof(address));
        }

        AddRecord(name, nameof(name), DnsRecordType.AAAA, ttl, address.GetAddressBytes());
    }

    /// <summary>
    /// Adds a TXT record (RFC 1035 section 3.3.14). The text is UTF-8 encoded; text longer than 255 bytes is
    /// split into several character-strings of one record, as SPF and DKIM records are (RFC 7208 section 3.3).
    /// </summary>
    /// <param name="name">The owner name.</param>
    /// <param name="text">The record text.</param>
    /// <param name="ttl">The TTL in seconds.</param>
    public void AddTxt(string name, string text, int ttl = 300)
    {
        ArgumentNullException.ThrowIfNull(text);
        var bytes = Encoding.UTF8.GetBytes(text);
        var data = new MemoryStream();
        var offset = 0;
        do
        {
            var length = Math.Min(255, bytes.Length - offset);
            data.WriteByte((byte)length);
            data.Write(bytes, offset, length);
            offset += length;
        }
        while (offset < bytes.Length);

        AddRecord(name, nameof(name), DnsRecordType.TXT, ttl, data.ToArray());
    }

    /// <summary>
    /// Adds a PTR record (RFC 1035 section 3.3.12) at a reverse name such as <c>4.3.2.1.in-addr.arpa</c>, as SPF's
    /// ptr mechanism and %{p} macro look up (RFC 7208 section 5.5).
    /// </summary>
    /// <param name="name">The owner name (the reverse name of an address).</param>
    /// <param name="target">The host name it points to.</param>
    /// <param name="ttl">The TTL in seconds.</param>
    public void AddPtr(string name, string target, int ttl = 300) =>
        AddRecord(name, nameof(name), DnsRecordType.PTR, ttl, DnsWire.EncodeName(DnsWire.NormalizeName(target, nameof(target))));

    /// <summary>
    /// Adds a TLSA record (RFC 6698 section 2.1), e.g. at <c>_25._tcp.mx.example.com</c> for DANE SMTP (RFC 7672).
    /// </summary>
    /// <param name="name">The owner name.</param>
    /// <param name="usage">Certificate usage: 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE.</param>
    /// <param name="selector">0 the full certificate, 1 its SubjectPublicKeyInfo.</param>
    /// <param name="matchingType">0 exact, 1 SHA-256, 2 SHA-512.</param>
    /// <param name="associationData">The certificate association data.</param>
    /// <param name="ttl">The TTL in seconds.</param>
    public void AddTlsa(string name, byte usage, byte selector, byte matchingType, ReadOnlySpan<byte> associationData, int ttl = 300)
    {
        var data = new byte[3 + associationData.Length];
        data[0] = usage;
        data[1] = selector;
        data[2] = matchingType;
        associationData.CopyTo(data.AsSpan(3));
        AddRecord(name, nameof(name), DnsRecordType.TLSA, ttl, data);
    }

    /// <summary>
    /// Declares <paramref name="zone"/> with an SOA record (RFC 1035 section 3.3.13), sent in the authority section of
    /// NXDOMAIN and NODATA answers for names at or under it (RFC 2308 section 3), so resolvers may cache them for
    /// min(<paramref name="ttl"/>, <paramref name="minimum"/>) seconds (RFC 2308 section 5).
    /// </summary>
    /// <param name="zone">The zone apex.</param>
    /// <param name="minimum">The SOA MINIMUM field: the negative-caching TTL.</param>
    /// <param name="ttl">The TTL of the SOA record itself.</param>
    public void SetSoa(string zone, int minimum, int ttl = 3600)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(minimum);
        ArgumentOutOfRangeException.ThrowIfNegative(ttl);
        var key = DnsWire.NormalizeName(zone, nameof(zone));
        var data = new MemoryStream();
        data.Write(DnsWire.EncodeName(key.Length == 0 ? "ns" : "ns." + key));
        data.Write(DnsWire.EncodeName(key.Length == 0 ? "hostmaster" : "hostmaster." + key));
        Span<byte> numbers = stackalloc byte[20];
        BinaryPrimitives.WriteUInt32BigEndian(numbers, 1);
        BinaryPrimitives.WriteUInt32BigEndian(numbers[4..], 3600);
        BinaryPrimitives.WriteUInt32BigEndian(numbers[8..], 600);
        BinaryPrimitives.WriteUInt32BigEndian(numbers[12..], 86400);
        BinaryPrimitives.WriteUInt32BigEndian(numbers[16..], (uint)minimum);
        data.Write(numbers);
        lock (_gate)
        {
            _soas[key] = new ZoneRecord(DnsRecordType.SOA, (uint)ttl, data.ToArray());
        }
    }

    /// <summary>Makes <paramref name="name"/> answer NXDOMAIN for every type, dropping its records.</summary>
    /// <param name="name">The name.</param>
    public void SetNxDomain(string name) => SetMode(name, NodeMode.NxDomain);

    /// <summary>
    /// Makes <paramref name="name"/> answer SERVFAIL (RCODE 2) for every type, dropping its records:
    /// a temporary DNS failure.
    /// </summary>
    /// <param name="name">The name.</param>
    public void SetServerFailure(string name) => SetMode(name, NodeMode.ServerFailure);

    /// <summary>
    /// Makes queries for <paramref name="name"/> go unanswered (they are still counted), dropping its
    /// records: the client sees a timeout.
    /// </summary>
    /// <param name="name">The name.</param>
    public void SetNoResponse(string name) => SetMode(name, NodeMode.NoResponse);

    /// <summary>Removes all records and settings for <paramref name="name"/>, which then answers NXDOMAIN.</summary>
    /// <param name="name">The name.</param>
    public void Remove(string name)
    {
        var key = DnsWire.NormalizeName(name, nameof(name));
        lock (_gate)
        {
            _zone.Remove(key);
        }
    }

    /// <summary>Stops answering and closes the sockets.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        await _shutdown.CancelAsync();
        _udp.Dispose();
        _tcp.Stop();
        await Task.WhenAll(_udpLoop, _tcpLoop);

        foreach (var connection in _connections.Values)
        {
            connection.Socket.Dispose();
        }

        await Task.WhenAll(_connections.Values.Select(c => c.Completion));
        _shutdown.Dispose();
    }

    /// <summary>Builds the response to one request, or returns null when no response is to be sent.</summary>
    internal byte[]? Answer(ReadOnlySpan<byte> request, int? udpLimit)
    {
        if (!DnsWire.TryParseQuery(request, out var query))
        {
            return null;
        }

        ZoneRecord[] answers;
        int rcode;
        var authoritative = true;
        bool authenticated;
        (string Zone, ZoneRecord Soa)? authority = null;
        lock (_gate)
        {
            _queries.Add(new DnsQuestion(query.Name, (DnsRecordType)query.Type));
            authenticated = (_authenticateAll || _authenticated.Contains(query.Name))
                            && (query.DnssecOk || (query.Flags & DnsWire.FlagAuthenticData) != 0);
            if (!_zone.TryGetValue(query.Name, out var node))
            {
                (answers, rcode) = ([], DnsWire.RcodeNameError);
            }
            else
            {
                switch (node.Mode)
                {
                    case NodeMode.NoResponse:
                        return null;
                    case NodeMode.ServerFailure:
                        (answers, rcode, authoritative) = ([], DnsWire.RcodeServerFailure, false);
                        break;
                    case NodeMode.NxDomain:
                        (answers, rcode) = ([], DnsWire.RcodeNameError);
                        break;
                    default:
                        answers = query.Class is DnsWire.ClassIn or DnsWire.ClassAny
                            ? node.Records.Where(r => (ushort)r.Type == query.Type).ToArray()
                            : [];
                        rcode = DnsWire.RcodeNoError;
                        break;
                }
            }
        }

        if (query.Class is not (DnsWire.ClassIn or DnsWire.ClassAny))
        {
            // Everything here is class IN; other classes are not this server's to answer.
            (answers, rcode, authoritative) = ([], DnsWire.RcodeRefused, false);
        }

        if ((rcode == DnsWire.RcodeNameError || (rcode == DnsWire.RcodeNoError && answers.Length == 0)) && authoritative)
        {
            authority = FindSoa(query.Name);
        }

        // Only data proven secure carries AD: answers and authenticated denials, never failures.
        authenticated &= rcode is DnsWire.RcodeNoError or DnsWire.RcodeNameError;
        var response = BuildResponse(request, query, answers, rcode, authoritative, truncated: false, authority, authenticated);
        if (udpLimit is { } transportLimit)
        {
            var limit = query.EdnsPayloadSize is { } advertised
                ? Math.Clamp(advertised, ClassicUdpPayload, Math.Min(MaxUdpPayload, transportLimit))
                : ClassicUdpPayload;
            if (response.Length > limit)
            {
                response = BuildResponse(request, query, [], rcode, authoritative, truncated: true, authority: null, authenticated: false);
            }
        }

        return response;
    }

    /// <summary>The SOA of the closest zone enclosing <paramref name="name"/>, walking up one label at a time.</summary>
    private (string Zone, ZoneRecord Soa)? FindSoa(string name)
    {
        lock (_gate)
        {
            var candidate = name;
            while (true)
            {
                if (_soas.TryGetValue(candidate, out var soa))
                {
                    return (candidate, soa);
                }

                if (candidate.Length == 0)
                {
                    return null;
                }

                var dot = candidate.IndexOf('.', StringComparison.Ordinal);
                candidate = dot < 0 ? string.Empty : candidate[(dot + 1)..];
            }
        }
    }

    private static byte[] BuildResponse(
        ReadOnlySpan<byte> request, DnsQuery query, ZoneRecord[] answers, int rcode, bool authoritative, bool truncated,
        (string Zone, ZoneRecord Soa)? authority, bool authenticated)
    {
        var writer = new DnsPacketWriter();
        writer.WriteUInt16(query.Id);
        writer.WriteUInt16(ResponseFlags(query, rcode, authoritative, truncated) | (authenticated ? DnsWire.FlagAuthenticData : 0));
        writer.WriteUInt16(1);
        writer.WriteUInt16(answers.Length);
        writer.WriteUInt16(authority is null ? 0 : 1);
        writer.WriteUInt16(query.EdnsPayloadSize is null ? 0 : 1);

        // The question is echoed byte for byte, which keeps the requester's letter case (resolvers that
        // randomize it, "DNS 0x20", compare it).
        writer.WriteBytes(request[DnsWire.HeaderLength..query.QuestionEnd]);

        foreach (var answer in answers)
        {
            // Owner name: a compression pointer to the question name at offset 12 (RFC 1035 section 4.1.4).
            writer.WriteUInt16(0xC000 | DnsWire.HeaderLength);
            writer.WriteUInt16((ushort)answer.Type);
            writer.WriteUInt16(DnsWire.ClassIn);
            writer.WriteUInt32(answer.Ttl);
            writer.WriteUInt16(answer.Data.Length);
            writer.WriteBytes(answer.Data);
        }

        if (authority is { } soa)
        {
            writer.WriteBytes(DnsWire.EncodeName(soa.Zone));
            writer.WriteUInt16((ushort)DnsRecordType.SOA);
            writer.WriteUInt16(DnsWire.ClassIn);
            writer.WriteUInt32(soa.Soa.Ttl);
            writer.WriteUInt16(soa.Soa.Data.Length);
            writer.WriteBytes(soa.Soa.Data);
        }

        if (query.EdnsPayloadSize is not null)
        {
            // RFC 6891 section 6.1.1: answer EDNS with an OPT record (root owner, our payload size, version 0).
            writer.WriteByte(0);
            writer.WriteUInt16((ushort)DnsRecordType.OPT);
            writer.WriteUInt16(MaxUdpPayload);
            // RFC 3225 section 3: the DO bit is copied into the response.
            writer.WriteUInt32(query.DnssecOk ? DnsWire.OptDnssecOk : 0);
            writer.WriteUInt16(0);
        }

        return writer.ToArray();
    }

    /// <summary>
    /// RFC 1035 section 4.1.1: QR, OPCODE 0 (the only one answered), AA, TC, the request's RD; RA is clear
    /// (no recursion).
    /// </summary>
    private static int ResponseFlags(DnsQuery query, int rcode, bool authoritative, bool truncated) =>
        DnsWire.FlagResponse
        | (authoritative ? DnsWire.FlagAuthoritative : 0)
        | (truncated ? DnsWire.FlagTruncated : 0)
        | (query.Flags & DnsWire.FlagRecursionDesired)
        | rcode;

    private void AddRecord(string name, string paramName, DnsRecordType type, int ttl, byte[] data)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(ttl);
        var key = DnsWire.NormalizeName(name, paramName);
        lock (_gate)
        {
            if (!_zone.TryGetValue(key, out var node) || node.Mode != NodeMode.Records)
            {
                node = new ZoneNode(NodeMode.Records);
                _zone[key] = node;
            }

            // An RRset holds no duplicates (RFC 2181 section 5): adding the same data again updates its TTL.
            node.Records.RemoveAll(r => r.Type == type && r.Data.AsSpan().SequenceEqual(data));
            node.Records.Add(new ZoneRecord(type, (uint)ttl, data));
        }
    }

    private void SetMode(string name, NodeMode mode)
    {
        var key = DnsWire.NormalizeName(name, nameof(name));
        lock (_gate)
        {
            _zone[key] = new ZoneNode(mode);
        }
    }

    private async Task UdpLoopAsync(CancellationToken cancellationToken)
    {
        // Large enough for any datagram, so nothing is cut off and misparsed.
        var buffer = new byte[ushort.MaxValue];
        var anyRemote = new IPEndPoint(IPAddress.Any, 0);
        while (!cancellationToken.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _udp.ReceiveFromAsync(buffer, SocketFlags.None, anyRemote, cancellationToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                // E.g. an ICMP port-unreachable from an earlier reply: keep serving.
                continue;
            }

            var response = TryAnswer(buffer.AsSpan(0, received.ReceivedBytes), MaxUdpPayload);
            if (response is null)
            {
                continue;
            }

            try
            {
                await _udp.SendToAsync(response, SocketFlags.None, received.RemoteEndPoint, cancellationToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                // The requester is gone; UDP gives no guarantee anyway.
            }
        }
    }

    private async Task TcpAcceptLoopAsync(CancellationToken cancellationToken)
    {
        while (!cancellationToken.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _tcp.AcceptSocketAsync(cancellationToken);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                if (cancellationToken.IsCancellationRequested)
                {
                    return;
                }

                continue;
            }

            var id = Interlocked.Increment(ref _nextConnectionId);
            var connection = new TcpConnection(socket);
            _connections[id] = connection;
            connection.Completion = ServeTcpAsync(connection.Socket, id, cancellationToken);
        }
    }

    /// <summary>RFC 1035 section 4.2.2 / RFC 7766: each message is preceded by a two-byte length.</summary>
    private async Task ServeTcpAsync(Socket socket, long id, CancellationToken cancellationToken)
    {
        try
        {
            await using var stream = new NetworkStream(socket, ownsSocket: true);
            var length = new byte[2];
            while (true)
            {
                await stream.ReadExactlyAsync(length, cancellationToken);
                var request = new byte[BinaryPrimitives.ReadUInt16BigEndian(length)];
                await stream.ReadExactlyAsync(request, cancellationToken);

                var response = TryAnswer(request, udpLimit: null);
                if (response is null)
                {
                    continue;
                }

                var framed = new byte[2 + response.Length];
                BinaryPrimitives.WriteUInt16BigEndian(framed, (ushort)response.Length);
                response.CopyTo(framed, 2);
                await stream.WriteAsync(framed, cancellationToken);
            }
        }
        catch (Exception ex) when (ex is EndOfStreamException or IOException or SocketException
                                       or ObjectDisposedException or OperationCanceledException)
        {
            // The client closed the connection or the server is shutting down.
        }
        finally
        {
            _connections.TryRemove(id, out _);
        }
    }

    private byte[]? TryAnswer(ReadOnlySpan<byte> request, int? udpLimit)
    {
        try
        {
            return Answer(request, udpLimit);
        }
        catch (Exception ex)
        {
            // A bug here must not stop the server; it is surfaced through Errors instead.
            _errors.Enqueue(ex);
            return null;
        }
    }

    private sealed record ZoneRecord(DnsRecordType Type, uint Ttl, byte[] Data);

    private sealed class ZoneNode(NodeMode mode)
    {
        public NodeMode Mode { get; } = mode;

        public List<ZoneRecord> Records { get; } = [];
    }

    private sealed class TcpConnection(Socket socket)
    {
        public Socket Socket { get; } = socket;

        public Task Completion { get; set; } = Task.CompletedTask;
    }
}
