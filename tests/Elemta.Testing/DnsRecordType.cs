namespace Elemta.Testing;

/// <summary>DNS resource record types (RFC 1035 section 3.2.2 and later RFCs) that tests commonly ask about.</summary>
/// <remarks>Other QTYPE values are represented by casting their number.</remarks>
public enum DnsRecordType
{
    /// <summary>Not a record type; the default value.</summary>
    None = 0,

    /// <summary>IPv4 host address (RFC 1035).</summary>
    A = 1,

    /// <summary>Authoritative name server (RFC 1035).</summary>
    NS = 2,

    /// <summary>Canonical name (RFC 1035).</summary>
    CNAME = 5,

    /// <summary>Start of authority (RFC 1035).</summary>
    SOA = 6,

    /// <summary>Domain name pointer (RFC 1035).</summary>
#pragma warning disable CA1720 // The RFC mnemonic is clearer here than avoiding the word "pointer".
    PTR = 12,
#pragma warning restore CA1720

    /// <summary>Mail exchange (RFC 1035, RFC 7505 for the null MX).</summary>
    MX = 15,

    /// <summary>Text strings (RFC 1035).</summary>
    TXT = 16,

    /// <summary>IPv6 host address (RFC 3596).</summary>
    AAAA = 28,

    /// <summary>Service location (RFC 2782).</summary>
    SRV = 33,

    /// <summary>EDNS(0) pseudo-record (RFC 6891).</summary>
    OPT = 41,

    /// <summary>Transport-layer security association (RFC 6698), used by DANE for SMTP (RFC 7672).</summary>
    TLSA = 52,

    /// <summary>A request for all records (RFC 1035 QTYPE *).</summary>
    ANY = 255,
}
