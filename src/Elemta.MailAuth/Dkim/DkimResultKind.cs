namespace Elemta.MailAuth.Dkim;

/// <summary>The outcome of one DKIM signature, named as the <c>dkim</c> method's results of RFC 8601 §2.7.1.</summary>
public enum DkimResultKind
{
    /// <summary>The signature verified against the signer's published key.</summary>
    Pass,

    /// <summary>The signature did not verify (body hash or header signature), or uses an algorithm RFC 8301 forbids (rsa-sha1).</summary>
    Fail,

    /// <summary>
    /// The signature verified but does not cover the whole body: its <c>l=</c> leaves content after the signed length
    /// (with <see cref="DkimUnsignedContentPolicy.Neutral"/>, the default).
    /// </summary>
    Neutral,

    /// <summary>The key could not be retrieved for a reason that may go away (a DNS timeout or SERVFAIL).</summary>
    TempError,

    /// <summary>The signature cannot be checked: malformed, unknown algorithm, no key, revoked or unusable key (an RSA key under 1024 bits, RFC 8301 §3.2), expired.</summary>
    PermError,

    /// <summary>
    /// The signature verified but leaves body content unsigned after its <c>l=</c> length, with
    /// <see cref="DkimUnsignedContentPolicy.Policy"/>: "some aspect of the signature was not acceptable to the verifier"
    /// (RFC 8601 §2.7.1).
    /// </summary>
    Policy,
}
