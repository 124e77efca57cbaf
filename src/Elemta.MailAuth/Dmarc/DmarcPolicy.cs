namespace Elemta.MailAuth.Dmarc;

/// <summary>The handling a Domain Owner requests for mail that fails DMARC (RFC 7489 §6.3, <c>p=</c> and <c>sp=</c>).</summary>
public enum DmarcPolicy
{
    /// <summary><c>none</c>: no specific action, monitoring only.</summary>
    None,

    /// <summary><c>quarantine</c>: treat as suspicious (spam folder, hold, closer scrutiny).</summary>
    Quarantine,

    /// <summary><c>reject</c>: reject during the SMTP transaction.</summary>
    Reject,
}

/// <summary>Identifier alignment mode (RFC 7489 §3.1, <c>adkim=</c> and <c>aspf=</c>).</summary>
public enum DmarcAlignmentMode
{
    /// <summary><c>r</c>: the organizational domains must be the same (the default).</summary>
    Relaxed,

    /// <summary><c>s</c>: the domains must be identical.</summary>
    Strict,
}

/// <summary>The DMARC result (RFC 7489 §11.2, the <c>dmarc=</c> method of RFC 8601 Authentication-Results).</summary>
public enum DmarcResultKind
{
    /// <summary>No DMARC policy record was found (or the one found was unusable): DMARC does not apply.</summary>
    None,

    /// <summary>An aligned identifier passed SPF or DKIM.</summary>
    Pass,

    /// <summary>A policy exists and no aligned identifier passed.</summary>
    Fail,

    /// <summary>A DNS error prevented policy discovery; a later attempt may succeed.</summary>
    TempError,

    /// <summary>The message cannot be evaluated: no single RFC5322.From domain (RFC 7489 §6.6.1).</summary>
    PermError,
}

/// <summary>Names as DMARC text (records, Authentication-Results, aggregate reports) writes them.</summary>
public static class DmarcNames
{
    /// <summary><c>none</c>, <c>quarantine</c> or <c>reject</c>.</summary>
    /// <param name="policy">The policy.</param>
    public static string Name(this DmarcPolicy policy) => policy switch
    {
        DmarcPolicy.None => "none",
        DmarcPolicy.Quarantine => "quarantine",
        DmarcPolicy.Reject => "reject",
        _ => throw new ArgumentOutOfRangeException(nameof(policy), policy, "Unknown DMARC policy."),
    };

    /// <summary><c>r</c> or <c>s</c>.</summary>
    /// <param name="mode">The alignment mode.</param>
    public static string Name(this DmarcAlignmentMode mode) => mode == DmarcAlignmentMode.Strict ? "s" : "r";

    /// <summary><c>none</c>, <c>pass</c>, <c>fail</c>, <c>temperror</c> or <c>permerror</c>.</summary>
    /// <param name="kind">The result.</param>
    public static string Name(this DmarcResultKind kind) => kind switch
    {
        DmarcResultKind.None => "none",
        DmarcResultKind.Pass => "pass",
        DmarcResultKind.Fail => "fail",
        DmarcResultKind.TempError => "temperror",
        DmarcResultKind.PermError => "permerror",
        _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown DMARC result."),
    };
}
