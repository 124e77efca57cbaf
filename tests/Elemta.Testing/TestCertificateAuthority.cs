using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Elemta.Testing;

/// <summary>
/// A throw-away certificate authority for TLS tests: a self-signed root that issues server certificates for given
/// host names, so a client that trusts only this root can tell a verified peer from an unverified one.
/// </summary>
public sealed class TestCertificateAuthority : IDisposable
{
    private readonly ECDsa _key;

    /// <summary>Creates a new root with the given common name, valid from a day ago for a year.</summary>
    /// <param name="name">The root's common name.</param>
    public TestCertificateAuthority(string name = "Elemta Test Root")
    {
        _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: true, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, critical: true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, critical: false));
        Root = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1));
    }

    /// <summary>The root certificate (with its private key).</summary>
    public X509Certificate2 Root { get; }

    /// <summary>The root certificate in PEM form, as a trust-anchor file holds it.</summary>
    public string RootPem => Root.ExportCertificatePem();

    /// <summary>Writes <see cref="RootPem"/> to a new temporary file and returns its path; the caller deletes it.</summary>
    public string WriteRootPemFile()
    {
        var path = Path.Combine(Path.GetTempPath(), $"elemta-test-root-{Guid.NewGuid():N}.pem");
        File.WriteAllText(path, RootPem);
        return path;
    }

    /// <summary>Issues a server certificate for <paramref name="hostNames"/> (subject alternative names), signed by this root.</summary>
    /// <param name="hostNames">DNS names the certificate is valid for; the first is also the common name.</param>
    /// <returns>The certificate with its private key, usable by <see cref="System.Net.Security.SslStream"/> on Linux.</returns>
    public X509Certificate2 IssueServerCertificate(params string[] hostNames)
    {
        ArgumentOutOfRangeException.ThrowIfZero(hostNames.Length);
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostNames[0]}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        foreach (var host in hostNames)
        {
            names.AddDnsName(host);
        }

        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));

        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        using var issued = request.Create(Root, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
        using var withKey = issued.CopyWithPrivateKey(key);

        // SslStream on Linux wants a certificate whose key is not ephemeral: a PKCS#12 round trip gives it one.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>
    /// Issues a certificate for a cluster node (a silo or a client of one): both server and client authentication,
    /// valid for <paramref name="name"/>, <c>localhost</c> and 127.0.0.1, signed by this root.
    /// </summary>
    /// <param name="name">The common name.</param>
    /// <returns>The certificate with its private key.</returns>
    public X509Certificate2 IssuePeerCertificate(string name)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(name);
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(certificateAuthority: false, hasPathLengthConstraint: false, pathLengthConstraint: 0, critical: true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, critical: true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1"), new Oid("1.3.6.1.5.5.7.3.2")], critical: false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Root, true, false));

        var serial = new byte[16];
        RandomNumberGenerator.Fill(serial);
        serial[0] &= 0x7F;
        using var issued = request.Create(Root, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <summary>Writes <paramref name="certificate"/> and its private key as two PEM files in <paramref name="directory"/>.</summary>
    /// <param name="certificate">A certificate with an ECDSA private key.</param>
    /// <param name="directory">An existing folder.</param>
    /// <param name="name">The files' base name.</param>
    /// <returns>The certificate's and the key's paths.</returns>
    public static (string CertificatePath, string KeyPath) WritePemFiles(X509Certificate2 certificate, string directory, string name)
    {
        ArgumentNullException.ThrowIfNull(certificate);
        var certificatePath = Path.Combine(directory, name + ".crt");
        var keyPath = Path.Combine(directory, name + ".key");
        File.WriteAllText(certificatePath, certificate.ExportCertificatePem());
        using var key = certificate.GetECDsaPrivateKey() ?? throw new ArgumentException("The certificate has no ECDSA private key.", nameof(certificate));
        File.WriteAllText(keyPath, key.ExportPkcs8PrivateKeyPem());
        return (certificatePath, keyPath);
    }

    /// <summary>Writes <see cref="RootPem"/> to <paramref name="path"/>.</summary>
    public void WriteRootPem(string path) => File.WriteAllText(path, RootPem);

    /// <summary>A self-signed server certificate for <paramref name="hostName"/>, trusted by nobody.</summary>
    /// <param name="hostName">The DNS name.</param>
    public static X509Certificate2 SelfSigned(string hostName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={hostName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(hostName);
        request.CertificateExtensions.Add(names.Build());
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(30));
        return X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pkcs12), password: null);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        Root.Dispose();
        _key.Dispose();
    }
}
