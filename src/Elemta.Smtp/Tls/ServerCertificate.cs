using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Elemta.Smtp.Tls;

/// <summary>
/// Loads the server certificate once at start (PEM files), or creates and keeps a self-signed one when none is
/// configured.
/// A certificate that cannot be loaded stops the start with a message naming the file.
/// </summary>
public sealed class ServerCertificate : IDisposable
{
    private static readonly TimeSpan SelfSignedLifetime = TimeSpan.FromDays(365);
    private readonly X509Certificate2? _certificate;

    private ServerCertificate(X509Certificate2? certificate, X509Certificate2Collection? chain)
    {
        _certificate = certificate;
        Context = certificate is null ? null : SslStreamCertificateContext.Create(certificate, chain, offline: true);
    }

    /// <summary>The certificate context for <see cref="SslStream"/>, or null when TLS is not configured.</summary>
    public SslStreamCertificateContext? Context { get; }

    /// <summary>Where the self-signed certificate in use is kept; null for a configured certificate or none.</summary>
    public string? SelfSignedIn { get; private set; }

    /// <summary>Whether STARTTLS and implicit TLS can be offered.</summary>
    public bool IsAvailable => Context is not null;

    /// <summary>When the certificate in use expires; null without one. Exported as a gauge so an alert can fire in time.</summary>
    public DateTimeOffset? NotAfter => _certificate is null ? null : new DateTimeOffset(_certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);

    /// <summary>Loads or creates the certificate described by <paramref name="options"/>.</summary>
    public static ServerCertificate Load(SmtpTlsOptions options, string hostName, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.Disabled)
        {
            return new ServerCertificate(null, null);
        }

        if (!string.IsNullOrWhiteSpace(options.CertificatePath))
        {
            return FromPem(options.CertificatePath, string.IsNullOrWhiteSpace(options.KeyPath) ? null : options.KeyPath);
        }

        if (!string.IsNullOrWhiteSpace(options.SelfSignedDirectory))
        {
            var selfSigned = SelfSigned(options.SelfSignedDirectory, hostName, timeProvider);
            selfSigned.SelfSignedIn = options.SelfSignedDirectory;
            return selfSigned;
        }

        return new ServerCertificate(null, null);
    }

    private static ServerCertificate FromPem(string certificatePath, string? keyPath)
    {
        try
        {
            var certificate = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            if (!certificate.HasPrivateKey)
            {
                throw new InvalidOperationException($"Elemta:Smtp:Tls: no private key for the certificate in '{certificatePath}'.");
            }

            // Everything after the first certificate in the file is the chain sent to clients.
            var all = new X509Certificate2Collection();
            all.ImportFromPemFile(certificatePath);
            var chain = new X509Certificate2Collection();
            for (var i = 1; i < all.Count; i++)
            {
                chain.Add(all[i]);
            }

            return new ServerCertificate(certificate, chain);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidOperationException($"Elemta:Smtp:Tls: cannot load certificate '{certificatePath}'{(keyPath is null ? string.Empty : $" with key '{keyPath}'")}: {ex.Message}", ex);
        }
    }

    private static ServerCertificate SelfSigned(string directory, string hostName, TimeProvider timeProvider)
    {
        var certificatePath = Path.Combine(directory, "dev-cert.pem");
        var keyPath = Path.Combine(directory, "dev-key.pem");
        var now = timeProvider.GetUtcNow();
        if (File.Exists(certificatePath) && File.Exists(keyPath))
        {
            var existing = FromPem(certificatePath, keyPath);
            // Kept across restarts so a client that pinned it keeps working, but renewed before it expires.
            if (existing._certificate!.NotAfter.ToUniversalTime() > now.UtcDateTime.AddDays(7) && existing._certificate.GetNameInfo(X509NameType.DnsName, false) == hostName)
            {
                return existing;
            }

            existing.Dispose();
        }

        Directory.CreateDirectory(directory);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(hostName);
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        using var certificate = request.CreateSelfSigned(now.AddMinutes(-5), now + SelfSignedLifetime);

        // Created readable by its owner only from the start, never briefly by others.
        var keyOptions = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            keyOptions.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        using (var keyFile = new StreamWriter(keyPath, System.Text.Encoding.ASCII, keyOptions))
        {
            keyFile.Write(key.ExportPkcs8PrivateKeyPem());
        }

        if (!OperatingSystem.IsWindows())
        {
            File.SetUnixFileMode(keyPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        }

        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        return FromPem(certificatePath, keyPath);
    }

    /// <inheritdoc />
    public void Dispose() => _certificate?.Dispose();
}
