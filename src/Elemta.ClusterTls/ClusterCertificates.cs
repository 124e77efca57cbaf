using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Orleans.Connections.Security;

namespace Elemta.ClusterTls;

/// <summary>
/// A node's certificate and the cluster's certificate authority, loaded from files, and the Orleans TLS settings
/// that make every silo-to-silo and gateway connection mutually authenticated against that authority.
/// </summary>
public sealed class ClusterCertificates : IDisposable
{
    private ClusterCertificates(X509Certificate2 certificate, X509Certificate2Collection authorities)
    {
        Certificate = certificate;
        Authorities = authorities;
    }

    /// <summary>This node's certificate, with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>The trust anchors a peer's certificate must chain to.</summary>
    public X509Certificate2Collection Authorities { get; }

    /// <summary>
    /// Loads the files named by <paramref name="settings"/>. Every problem is an <see cref="InvalidOperationException"/>
    /// whose message is one line naming the setting (<paramref name="keyPrefix"/> + its name) and what is wrong.
    /// </summary>
    /// <param name="settings">The paths.</param>
    /// <param name="keyPrefix">How the settings are named where they were configured, e.g. <c>Elemta:Cluster:Tls:</c>.</param>
    public static ClusterCertificates Load(ClusterTlsSettings settings, string keyPrefix)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(keyPrefix);
        if (!settings.Enabled)
        {
            throw new InvalidOperationException($"{keyPrefix}CertificatePath is not set.");
        }

        if (string.IsNullOrWhiteSpace(settings.CaPath))
        {
            throw new InvalidOperationException($"{keyPrefix}CaPath must name the CA certificate (PEM) that peers' certificates chain to when {keyPrefix}CertificatePath is set.");
        }

        var certificatePath = RequireFile(settings.CertificatePath!, keyPrefix + "CertificatePath");
        var keyPath = string.IsNullOrWhiteSpace(settings.KeyPath) ? null : RequireFile(settings.KeyPath, keyPrefix + "KeyPath");
        var caPath = RequireFile(settings.CaPath, keyPrefix + "CaPath");

        var certificate = LoadCertificate(certificatePath, keyPath, settings.Password, keyPrefix);
        var authorities = new X509Certificate2Collection();
        try
        {
            authorities.ImportFromPemFile(caPath);
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            certificate.Dispose();
            throw new InvalidOperationException($"{keyPrefix}CaPath: {caPath} cannot be read as a PEM certificate file ({ex.Message.TrimEnd('.')}).", ex);
        }

        if (authorities.Count == 0)
        {
            certificate.Dispose();
            throw new InvalidOperationException($"{keyPrefix}CaPath: {caPath} holds no PEM certificate (-----BEGIN CERTIFICATE-----).");
        }

        var loaded = new ClusterCertificates(certificate, authorities);
        if (!loaded.IsTrusted(certificate, null))
        {
            var subject = certificate.Subject;
            loaded.Dispose();
            throw new InvalidOperationException($"{keyPrefix}CertificatePath: {certificatePath} ({subject}) does not chain to {keyPrefix}CaPath ({caPath}), so no other node would accept it.");
        }

        return loaded;
    }

    /// <summary>
    /// Sets <paramref name="options"/> for mutual authentication: this node presents <see cref="Certificate"/>, and
    /// accepts a peer only if it presents a certificate that chains to <see cref="Authorities"/>.
    /// </summary>
    public void Configure(TlsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.LocalCertificate = Certificate;
        options.RemoteCertificateMode = RemoteCertificateMode.RequireCertificate;
        options.ClientCertificateMode = RemoteCertificateMode.RequireCertificate;
        // Replaces the platform's verdict (which trusts the system's roots and checks host names) with ours: peers
        // are reached by IP address and identified by the cluster CA alone.
        options.RemoteCertificateValidation = (certificate, chain, _) => IsTrusted(certificate, chain);
    }

    /// <summary>Whether <paramref name="certificate"/> is valid now and chains to one of <see cref="Authorities"/>.</summary>
    /// <param name="certificate">The peer's certificate.</param>
    /// <param name="presented">The chain the TLS stack built, whose elements supply intermediates the peer sent; may be null.</param>
    public bool IsTrusted(X509Certificate2 certificate, X509Chain? presented)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(Authorities);
        // A private cluster CA publishes no revocation lists; replace a compromised node's certificate by a new CA.
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (presented is not null)
        {
            foreach (var element in presented.ChainElements)
            {
                chain.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        return chain.Build(certificate);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Certificate.Dispose();
        foreach (var authority in Authorities)
        {
            authority.Dispose();
        }
    }

    private static string RequireFile(string path, string key)
    {
        var full = Path.GetFullPath(path);
        return File.Exists(full) ? full : throw new InvalidOperationException($"{key}: file {full} not found.");
    }

    private static X509Certificate2 LoadCertificate(string path, string? keyPath, string? password, string keyPrefix)
    {
        X509Certificate2 loaded;
        try
        {
            var extension = Path.GetExtension(path);
            if (extension.Equals(".pfx", StringComparison.OrdinalIgnoreCase) || extension.Equals(".p12", StringComparison.OrdinalIgnoreCase))
            {
                loaded = X509CertificateLoader.LoadPkcs12FromFile(path, password);
            }
            else if (string.IsNullOrEmpty(password))
            {
                loaded = X509Certificate2.CreateFromPemFile(path, keyPath);
            }
            else
            {
                loaded = X509Certificate2.CreateFromEncryptedPemFile(path, password, keyPath);
            }
        }
        catch (Exception ex) when (ex is CryptographicException or IOException or UnauthorizedAccessException)
        {
            var where = keyPath is null ? $"{keyPrefix}CertificatePath ({path})" : $"{keyPrefix}CertificatePath ({path}) and {keyPrefix}KeyPath ({keyPath})";
            throw new InvalidOperationException($"{where}: no certificate with its private key could be read ({ex.Message.TrimEnd('.')}).", ex);
        }

        using (loaded)
        {
            if (!loaded.HasPrivateKey)
            {
                throw new InvalidOperationException($"{keyPrefix}CertificatePath: {path} has no private key; give it in {keyPrefix}KeyPath.");
            }

            // TLS on Linux wants a key that is not ephemeral, which a PEM-loaded one is: a PKCS#12 round trip gives it one.
            return X509CertificateLoader.LoadPkcs12(loaded.Export(X509ContentType.Pkcs12), password: null);
        }
    }
}
