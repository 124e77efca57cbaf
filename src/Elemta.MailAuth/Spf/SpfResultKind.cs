namespace Elemta.MailAuth.Spf;

/// <summary>The seven results of <c>check_host()</c> (RFC 7208 §2.6).</summary>
public enum SpfResultKind
{
    /// <summary>No syntactically valid domain, or no SPF record was found (§2.6.1).</summary>
    None,

    /// <summary>The domain owner explicitly states nothing about the client (<c>?</c>, or no mechanism matched; §2.6.2).</summary>
    Neutral,

    /// <summary>The client is authorized (§2.6.3).</summary>
    Pass,

    /// <summary>The client is explicitly not authorized (§2.6.4).</summary>
    Fail,

    /// <summary>The client is probably not authorized (§2.6.5).</summary>
    SoftFail,

    /// <summary>A transient error, usually DNS, prevented a result (§2.6.6); a later retry may succeed.</summary>
    TempError,

    /// <summary>The published records cannot be interpreted correctly (§2.6.7); needs the domain owner to act.</summary>
    PermError,
}
