namespace Elemta.Smtp.Tls;

/// <summary>The server certificate for STARTTLS and implicit TLS (<c>Elemta:Smtp:Tls</c>).</summary>
public sealed class SmtpTlsOptions
{
    /// <summary>PEM file with the certificate, followed by any intermediate certificates.</summary>
    public string? CertificatePath { get; set; }

    /// <summary>PEM file with the certificate's private key. Empty: the key is in <see cref="CertificatePath"/>.</summary>
    public string? KeyPath { get; set; }

    /// <summary>
    /// When no certificate is configured, generate a self-signed one for the host name and keep it in this folder
    /// (the silo points it at <c>{DataDirectory}/tls</c> when neither this nor <see cref="CertificatePath"/> is set).
    /// Clients cannot verify it, but it keeps opportunistic STARTTLS on (RFC 7435); a warning says so at start.
    /// </summary>
    public string? SelfSignedDirectory { get; set; }

    /// <summary>Offer no STARTTLS and no implicit TLS at all, not even with a self-signed certificate.</summary>
    public bool Disabled { get; set; }

    /// <summary>How long the TLS handshake may take.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when a certificate source is configured.</summary>
    public bool IsConfigured => !Disabled && (!string.IsNullOrWhiteSpace(CertificatePath) || !string.IsNullOrWhiteSpace(SelfSignedDirectory));
}
