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
    /// (<c>--dev</c> points it at <c>{DataDirectory}/tls</c>). Clients cannot verify it: for development only.
    /// </summary>
    public string? SelfSignedDirectory { get; set; }

    /// <summary>How long the TLS handshake may take.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>True when a certificate source is configured.</summary>
    public bool IsConfigured => !string.IsNullOrWhiteSpace(CertificatePath) || !string.IsNullOrWhiteSpace(SelfSignedDirectory);
}
