namespace Elemta.MailAuth.Dkim;

/// <summary>DKIM signing and verification, section <c>Elemta:Dkim</c>.</summary>
public sealed class DkimOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Dkim";

    /// <summary>
    /// The header fields signed when <see cref="Headers"/> is empty: those RFC 6376 §5.4.1 lists as ones that should be
    /// signed and that a relay does not add or rewrite.
    /// </summary>
    public static readonly IReadOnlyList<string> DefaultHeaders =
    [
        "From", "Reply-To", "Subject", "Date", "To", "Cc", "Message-ID", "In-Reply-To", "References",
        "MIME-Version", "Content-Type", "Content-Transfer-Encoding", "List-Id", "List-Unsubscribe", "List-Unsubscribe-Post",
    ];

    /// <summary>The fields over-signed when <see cref="OverSignedHeaders"/> is empty.</summary>
    public static readonly IReadOnlyList<string> DefaultOverSignedHeaders = ["From", "To", "Subject"];

    /// <summary>Signing keys by the domain they sign for (<c>Elemta:Dkim:Signing:example.org:Selector</c>, <c>…:KeyFile</c>). Empty: nothing is signed.</summary>
    public Dictionary<string, DkimSigningDomainOptions> Signing { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// The header fields to sign, each instance present in the message signed (bottom-up, RFC 6376 §5.4.2). Must hold
    /// From; may not hold fields relays add or change (Received, Return-Path, DKIM-Signature, Bcc, Comments, Keywords,
    /// Resent-Bcc). Empty: <see cref="DefaultHeaders"/>.
    /// </summary>
    public IList<string> Headers { get; set; } = [];

    /// <summary>
    /// Fields listed in <c>h=</c> once more than the message holds them (RFC 6376 §8.15), so that a second From, To or
    /// Subject added in transit breaks the signature instead of being displayed unsigned. Fields here that are not in
    /// <see cref="Headers"/> are signed too. Empty: <see cref="DefaultOverSignedHeaders"/>.
    /// </summary>
    public IList<string> OverSignedHeaders { get; set; } = [];

    /// <summary>How signatures on arriving mail are checked.</summary>
    public DkimVerificationOptions Verification { get; set; } = new();

    /// <summary><see cref="Headers"/>, or the defaults when it is empty.</summary>
    public IReadOnlyList<string> EffectiveHeaders() => Headers.Count > 0 ? [.. Headers] : DefaultHeaders;

    /// <summary><see cref="OverSignedHeaders"/>, or the defaults when it is empty.</summary>
    public IReadOnlyList<string> EffectiveOverSignedHeaders() => OverSignedHeaders.Count > 0 ? [.. OverSignedHeaders] : DefaultOverSignedHeaders;
}

/// <summary>The key one domain signs with.</summary>
public sealed class DkimSigningDomainOptions
{
    /// <summary>The selector (<c>s=</c>): the key is published at <c>&lt;Selector&gt;._domainkey.&lt;domain&gt;</c>.</summary>
    public string? Selector { get; set; }

    /// <summary>
    /// The private key, a PEM file: RSA (at least 1024 bits, 2048 recommended; <c>PRIVATE KEY</c> PKCS#8 or
    /// <c>RSA PRIVATE KEY</c> PKCS#1) or Ed25519 (<c>PRIVATE KEY</c> PKCS#8). <c>elemta dkim keygen</c> writes one.
    /// </summary>
    public string? KeyFile { get; set; }
}

/// <summary>What a signature whose <c>l=</c> leaves body content unsigned results in.</summary>
public enum DkimUnsignedContentPolicy
{
    /// <summary><c>neutral</c>: verified, but says nothing about the content after the length (the default).</summary>
    Neutral = 0,

    /// <summary><c>policy</c>: verified, but not acceptable to this verifier (RFC 8601 §2.7.1).</summary>
    Policy = 1,

    /// <summary><c>fail</c>: treated as not verified at all, since anyone could have appended the rest (RFC 6376 §8.2).</summary>
    Fail = 2,
}

/// <summary>Verification settings, section <c>Elemta:Dkim:Verification</c>.</summary>
public sealed class DkimVerificationOptions
{
    /// <summary>Name servers for key lookups as <c>ip</c> or <c>ip:port</c>. Empty: the system's resolvers.</summary>
    public IList<string> Servers { get; set; } = [];

    /// <summary>Time to wait for one DNS answer before the signature is a temperror.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Retries per key query after a timeout.</summary>
    public int Retries { get; set; } = 2;

    /// <summary>The result of a verified signature whose <c>l=</c> does not cover the whole body.</summary>
    public DkimUnsignedContentPolicy UnsignedBodyContent { get; set; } = DkimUnsignedContentPolicy.Neutral;

    /// <summary>Keys kept in memory at most; found keys are kept for their record's TTL (capped by <see cref="MaxKeyCacheTime"/>). 0: no cache.</summary>
    public int KeyCacheSize { get; set; } = 10_000;

    /// <summary>The longest a key is kept, however long its record's TTL.</summary>
    public TimeSpan MaxKeyCacheTime { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Tolerated clock difference when checking a signature's expiry (<c>x=</c>).</summary>
    public TimeSpan ClockSkew { get; set; } = TimeSpan.FromMinutes(5);
}
