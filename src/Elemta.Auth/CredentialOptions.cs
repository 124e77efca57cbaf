namespace Elemta.Auth;

/// <summary>How new passwords are stored (<c>Elemta:Auth</c>). Existing verifiers keep the parameters stored with them.</summary>
public sealed class CredentialOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Auth";

    /// <summary>The lowest <see cref="PasswordIterations"/> accepted at start.</summary>
    public const int MinPasswordIterations = 10_000;

    /// <summary>
    /// PBKDF2-HMAC-SHA256 iterations of the password hash checked for PLAIN and LOGIN. 600 000 by default (OWASP's
    /// figure for PBKDF2-SHA256); every check costs this many HMACs, so it also bounds how fast AUTH can be tried.
    /// </summary>
    public int PasswordIterations { get; set; } = 600_000;

    /// <summary>
    /// SCRAM-SHA-256 iterations (RFC 7677 asks at least 4096). The client computes them at every login, so they cannot
    /// be as high as <see cref="PasswordIterations"/>.
    /// </summary>
    public int ScramIterations { get; set; } = 4096;

    /// <summary>Whether new passwords also get CRAM-MD5 contexts. Without them the account cannot use CRAM-MD5.</summary>
    public bool StoreCramMd5 { get; set; } = true;

    /// <summary>The first configuration error, or null when the options are valid.</summary>
    public string? Validate() =>
        PasswordIterations < MinPasswordIterations ? $"Elemta:Auth:PasswordIterations must be at least {MinPasswordIterations}."
        : ScramIterations < 4096 ? "Elemta:Auth:ScramIterations must be at least 4096 (RFC 7677)."
        : null;
}
