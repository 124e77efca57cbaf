using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using DnsClient;
using DnsClient.Protocol;
using Elemta.Delivery.Dns;

namespace Elemta.Delivery.Tls;

/// <summary>What the TLSA lookup of one MX host says about TLS with it (RFC 7672 section 2.2).</summary>
internal enum DaneState
{
    /// <summary>No authenticated TLSA records (none, or an answer without the AD bit): DANE does not apply.</summary>
    None,

    /// <summary>Authenticated TLSA records, at least one usable: STARTTLS is mandatory and the chain must match one.</summary>
    Usable,

    /// <summary>Authenticated TLSA records, none usable for SMTP: no DANE, but TLS is mandatory (RFC 7672 section 2.2).</summary>
    UnusableOnly,

    /// <summary>The lookup failed: the host must not be used in this attempt (it may have DANE, nobody can tell).</summary>
    Failed,
}

/// <summary>One TLSA record's fields (RFC 6698 section 2.1).</summary>
/// <param name="Usage">The certificate usage.</param>
/// <param name="Selector">Full certificate or SubjectPublicKeyInfo.</param>
/// <param name="MatchingType">Exact, SHA-256 or SHA-512.</param>
/// <param name="Data">The certificate association data.</param>
internal sealed record TlsaAssociation(TlsaCertificateUsage Usage, TlsaSelector Selector, TlsaMatchingType MatchingType, byte[] Data)
{
    /// <summary>The record's fields from DnsClient's record.</summary>
    public static TlsaAssociation From(TlsaRecord record) =>
        new(record.CertificateUsage, record.Selector, record.MatchingType, [.. record.CertificateAssociationData]);

    /// <summary>Presentation form, <c>3 1 1 ABCD…</c>.</summary>
    public override string ToString() => $"{(int)Usage} {(int)Selector} {(int)MatchingType} {Convert.ToHexString(Data)}";
}

/// <summary>The outcome of a TLSA lookup: its state, the usable records and, when it failed, why.</summary>
/// <param name="State">What the answer means for the session.</param>
/// <param name="Records">The usable records (DANE-TA and DANE-EE, known selector and matching type); empty unless <see cref="DaneState.Usable"/>.</param>
/// <param name="Failure">Why the lookup failed, for the attempt's reply.</param>
internal sealed record DaneLookup(DaneState State, DaneRecords? Records = null, string? Failure = null);

/// <summary>How a server's certificate matched its TLSA records.</summary>
internal enum DaneMatch
{
    /// <summary>No usable record matched.</summary>
    None,

    /// <summary>A DANE-EE(3) record matched the server's own certificate or key.</summary>
    EndEntity,

    /// <summary>A DANE-TA(2) record matched a trust anchor the server's chain leads to.</summary>
    TrustAnchor,
}

/// <summary>
/// The TLSA lookups of DANE for SMTP (RFC 7672): <c>_port._tcp.host</c> through the configured (validating) resolver,
/// trusted only with the AD bit. The MX and address answers must be authenticated too, which the caller checks
/// (<see cref="DeliveryTarget.Secure"/>) before asking.
/// </summary>
internal sealed class DaneResolver(DnsLookup dns)
{
    /// <summary>Looks up and classifies the TLSA records of <paramref name="host"/> at <paramref name="port"/>.</summary>
    public async Task<DaneLookup> LookupAsync(string host, int port, CancellationToken cancellationToken)
    {
        var name = $"_{port}._tcp.{host.TrimEnd('.')}";
        IDnsQueryResponse response;
        try
        {
            response = await dns.QueryAsync(name, QueryType.TLSA, cancellationToken).ConfigureAwait(false);
        }
        catch (DnsResponseException ex)
        {
            return new DaneLookup(DaneState.Failed, Failure: $"TLSA lookup of {name} failed: {ex.Message}");
        }

        if (response.Header.ResponseCode == DnsHeaderResponseCode.NotExistentDomain)
        {
            return new DaneLookup(DaneState.None);
        }

        // Inside a signed zone a failure may hide records an attacker wants gone (RFC 7672 section 2.2): the host is
        // skipped rather than used without DANE.
        if (response.HasError)
        {
            return new DaneLookup(DaneState.Failed, Failure: $"TLSA lookup of {name} failed: {response.ErrorMessage}");
        }

        if (!response.Header.IsAuthenticData)
        {
            return new DaneLookup(DaneState.None);
        }

        var all = response.Answers.TlsaRecords().Select(TlsaAssociation.From).ToList();
        if (all.Count == 0)
        {
            return new DaneLookup(DaneState.None);
        }

        var usable = all.Where(IsUsable).ToList();
        return usable.Count == 0 ? new DaneLookup(DaneState.UnusableOnly) : new DaneLookup(DaneState.Usable, new DaneRecords(usable));
    }

    /// <summary>
    /// RFC 7672 section 3.1: only DANE-TA(2) and DANE-EE(3) serve SMTP (PKIX-TA/PKIX-EE need a CA list the client
    /// and server never agreed on); selectors 0/1 and matching types 0/1/2, with digests of the right length.
    /// </summary>
    internal static bool IsUsable(TlsaAssociation record) =>
        record.Usage is TlsaCertificateUsage.DANETA or TlsaCertificateUsage.DANEEE
        && record.Selector is TlsaSelector.FullCertificate or TlsaSelector.PublicKey
        && record.MatchingType switch
        {
            TlsaMatchingType.ExactMatch => record.Data.Length > 0,
            TlsaMatchingType.SHA256 => record.Data.Length == SHA256.HashSizeInBytes,
            TlsaMatchingType.SHA512 => record.Data.Length == SHA512.HashSizeInBytes,
            _ => false,
        };
}

/// <summary>A host's usable TLSA records, and the check of a server's certificate chain against them.</summary>
internal sealed class DaneRecords
{
    private readonly IReadOnlyList<TlsaAssociation> _records;

    public DaneRecords(IReadOnlyList<TlsaAssociation> records)
    {
        _records = records;
        // Sessions opened under one record set must not carry mail for a host whose records changed.
        Key = string.Join(';', records.Select(r => r.ToString()).Order(StringComparer.Ordinal));
    }

    /// <summary>The records in canonical text form: part of the connection pool's key.</summary>
    public string Key { get; }

    /// <summary>
    /// Whether the server's chain matches a record. DANE-EE(3): the server certificate (or its key) is the record's,
    /// whatever its names and dates say (RFC 7672 section 3.1.1). DANE-TA(2): the chain leads to a certificate the
    /// server sent (or, for <c>2 0 0</c>, the record itself) that matches, the server certificate names the MX host and
    /// the chain is within its dates (RFC 7672 sections 3.1.2 and 3.2).
    /// </summary>
    /// <param name="certificate">The server's certificate.</param>
    /// <param name="chain">The chain built during the handshake, with the certificates the server sent.</param>
    /// <param name="errors">The platform's verdict, for the name check of DANE-TA.</param>
    public DaneMatch Match(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null)
        {
            return DaneMatch.None;
        }

        using var owned = certificate as X509Certificate2 is null ? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()) : null;
        var leaf = owned ?? (X509Certificate2)certificate;
        if (_records.Any(r => r.Usage == TlsaCertificateUsage.DANEEE && Matches(r, leaf)))
        {
            return DaneMatch.EndEntity;
        }

        var anchors = _records.Where(r => r.Usage == TlsaCertificateUsage.DANETA).ToList();
        if (anchors.Count == 0 || (errors & SslPolicyErrors.RemoteCertificateNameMismatch) != 0)
        {
            return DaneMatch.None;
        }

        var sent = new X509Certificate2Collection();
        if (chain is not null)
        {
            foreach (var element in chain.ChainElements)
            {
                sent.Add(element.Certificate);
            }

            sent.AddRange(chain.ChainPolicy.ExtraStore);
        }

        var candidates = sent.Where(c => !c.RawDataMemory.Span.SequenceEqual(leaf.RawDataMemory.Span)).ToList();
        var fromRecords = new List<X509Certificate2>();
        try
        {
            // A "2 0 0" record holds the trust anchor itself, which the server then need not send.
            foreach (var record in anchors.Where(r => r is { Selector: TlsaSelector.FullCertificate, MatchingType: TlsaMatchingType.ExactMatch }))
            {
                try
                {
                    fromRecords.Add(X509CertificateLoader.LoadCertificate(record.Data));
                }
                catch (CryptographicException)
                {
                    // Not a certificate: it simply matches nothing.
                }
            }

            foreach (var anchor in candidates.Concat(fromRecords))
            {
                if (anchors.Any(r => Matches(r, anchor)) && ChainsTo(leaf, anchor, candidates))
                {
                    return DaneMatch.TrustAnchor;
                }
            }

            return DaneMatch.None;
        }
        finally
        {
            foreach (var certificate2 in fromRecords)
            {
                certificate2.Dispose();
            }
        }
    }

    /// <summary>
    /// Whether <paramref name="leaf"/> chains to <paramref name="anchor"/>, every certificate up to it within its dates and
    /// correctly signed. The anchor is often an intermediate (a CA's issuing certificate), which the platform will not
    /// take as a root: the path is built with the anchor available, and only the part from the leaf up to the anchor is
    /// judged, ignoring that nothing above it is trusted.
    /// </summary>
    private static bool ChainsTo(X509Certificate2 leaf, X509Certificate2 anchor, List<X509Certificate2> intermediates)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(anchor);
        chain.ChainPolicy.ExtraStore.Add(anchor);
        chain.ChainPolicy.ExtraStore.AddRange(intermediates.ToArray());
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationFlags = X509VerificationFlags.AllowUnknownCertificateAuthority;
        chain.Build(leaf);
        const X509ChainStatusFlags AboveTheAnchor = X509ChainStatusFlags.UntrustedRoot | X509ChainStatusFlags.PartialChain;
        for (var i = 0; i < chain.ChainElements.Count; i++)
        {
            var element = chain.ChainElements[i];
            if (element.ChainElementStatus.Any(status => (status.Status & ~AboveTheAnchor) != X509ChainStatusFlags.NoError))
            {
                return false;
            }

            if (element.Certificate.RawDataMemory.Span.SequenceEqual(anchor.RawDataMemory.Span))
            {
                return true;
            }
        }

        return false;
    }

    private static bool Matches(TlsaAssociation record, X509Certificate2 certificate)
    {
        var selected = record.Selector == TlsaSelector.PublicKey ? certificate.PublicKey.ExportSubjectPublicKeyInfo() : certificate.RawData;
        var data = record.MatchingType switch
        {
            TlsaMatchingType.SHA256 => SHA256.HashData(selected),
            TlsaMatchingType.SHA512 => SHA512.HashData(selected),
            _ => selected,
        };
        return data.AsSpan().SequenceEqual(record.Data);
    }
}
