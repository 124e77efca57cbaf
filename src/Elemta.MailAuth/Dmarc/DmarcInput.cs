using Elemta.MailAuth.Spf;

namespace Elemta.MailAuth.Dmarc;

/// <summary>Which identity SPF checked (RFC 7489 §4.1: the SPF-authenticated identifier).</summary>
public enum DmarcSpfScope
{
    /// <summary>The RFC5321.MailFrom domain.</summary>
    MailFrom,

    /// <summary>The HELO/EHLO name, used when the reverse-path is null (RFC 7208 §2.4).</summary>
    Helo,
}

/// <summary>A DKIM verification result (RFC 8601 §2.7.1), as much as DMARC and its reports need.</summary>
public enum DmarcDkimResult
{
    /// <summary>Not signed.</summary>
    None,

    /// <summary>The signature verified.</summary>
    Pass,

    /// <summary>The signature did not verify.</summary>
    Fail,

    /// <summary>Verified but not acceptable by local policy.</summary>
    Policy,

    /// <summary>Could not be processed for another reason.</summary>
    Neutral,

    /// <summary>A temporary failure (key lookup).</summary>
    TempError,

    /// <summary>A permanent failure (malformed signature, no key).</summary>
    PermError,
}

/// <summary>The SPF outcome DMARC looks at: the domain SPF evaluated and its result.</summary>
/// <param name="Domain">The domain checked: the MAIL FROM domain, or the HELO name for a null reverse-path.</param>
/// <param name="Result">The SPF result; only <see cref="SpfResultKind.Pass"/> can align.</param>
/// <param name="Scope">Which identity <paramref name="Domain"/> is.</param>
public sealed record DmarcSpfInput(string Domain, SpfResultKind Result, DmarcSpfScope Scope = DmarcSpfScope.MailFrom);

/// <summary>One DKIM signature's outcome: its <c>d=</c> domain and result.</summary>
/// <param name="Domain">The signing domain (<c>d=</c>).</param>
/// <param name="Result">The verification result; only <see cref="DmarcDkimResult.Pass"/> can align.</param>
/// <param name="Selector">The <c>s=</c> selector, for aggregate reports.</param>
public sealed record DmarcDkimInput(string Domain, DmarcDkimResult Result, string? Selector = null);

/// <summary>What DMARC evaluates: the RFC5322.From domain and the SPF and DKIM outcomes already computed.</summary>
/// <param name="FromDomain">The RFC5322.From domain (see <see cref="DmarcFromDomain"/>).</param>
/// <param name="Spf">The SPF outcome, or null when SPF was not checked.</param>
/// <param name="Dkim">Every DKIM signature's outcome (empty when unsigned).</param>
public sealed record DmarcInput(string FromDomain, DmarcSpfInput? Spf, IReadOnlyList<DmarcDkimInput> Dkim);
