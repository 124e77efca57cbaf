namespace Elemta.Delivery.Tls;

/// <summary>What outbound SMTP demands of TLS with a destination (<c>Elemta:Delivery:TlsPolicies:&lt;domain&gt;</c>).</summary>
/// <remarks>Ordered by strength: a stronger demand (REQUIRETLS, MTA-STS enforce) raises a weaker configured one.</remarks>
public enum TlsPolicy
{
    /// <summary>Never STARTTLS, even when offered: for peers whose TLS is known to be broken.</summary>
    None = 0,

    /// <summary>STARTTLS when offered, any certificate (RFC 7435); plaintext when not offered. The default.</summary>
    Opportunistic = 1,

    /// <summary>STARTTLS must succeed, with any certificate; otherwise the recipients wait for a later attempt.</summary>
    Required = 2,

    /// <summary>STARTTLS must succeed with a certificate that validates for the MX host name; otherwise the recipients wait.</summary>
    Verify = 3,
}

/// <summary>The lowest TLS version outbound SMTP accepts (<c>Elemta:Delivery:MinimumTlsVersion</c>).</summary>
public enum MinimumTlsVersion
{
    /// <summary>TLS 1.2 and 1.3 (RFC 8996 retired 1.0 and 1.1).</summary>
    Tls12 = 0,

    /// <summary>TLS 1.3 only.</summary>
    Tls13 = 1,
}
