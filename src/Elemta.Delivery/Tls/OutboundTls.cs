using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Elemta.Delivery.Tls;

/// <summary>
/// The TLS side of outbound SMTP: which <see cref="TlsPolicy"/> a domain gets, which protocol versions are offered,
/// and whether a server certificate verifies (a trusted chain and the MX host name).
/// </summary>
internal sealed class OutboundTls
{
    private readonly Dictionary<string, TlsPolicy> _policies;
    private readonly TlsPolicy _default;
    private readonly X509Certificate2Collection? _trustAnchors;

    public OutboundTls(DeliveryOptions options)
    {
        _default = options.DefaultTlsPolicy;
        _policies = new Dictionary<string, TlsPolicy>(StringComparer.OrdinalIgnoreCase);
        foreach (var (domain, policy) in options.TlsPolicies)
        {
            _policies[domain.TrimEnd('.')] = policy;
        }

        Protocols = options.MinimumTlsVersion == MinimumTlsVersion.Tls13 ? SslProtocols.Tls13 : SslProtocols.Tls12 | SslProtocols.Tls13;
        if (!string.IsNullOrWhiteSpace(options.TrustedCertificateAuthorities))
        {
            if (!TryLoadTrustAnchors(options.TrustedCertificateAuthorities, out var anchors, out var error))
            {
                throw new Microsoft.Extensions.Options.OptionsValidationException(DeliveryOptions.SectionName, typeof(DeliveryOptions), [error!]);
            }

            _trustAnchors = anchors;
        }
    }

    /// <summary>The protocol versions offered in the handshake.</summary>
    public SslProtocols Protocols { get; }

    /// <summary>
    /// The configured policy for <paramref name="domain"/>: its own entry, else the entry <c>.parent</c> of the nearest
    /// parent domain (<c>.example.com</c> covers <c>mx.example.com</c> and <c>a.b.example.com</c>, not
    /// <c>example.com</c>), else <see cref="DeliveryOptions.DefaultTlsPolicy"/>.
    /// </summary>
    public TlsPolicy PolicyFor(string domain)
    {
        var name = domain.TrimEnd('.');
        if (_policies.TryGetValue(name, out var policy))
        {
            return policy;
        }

        for (var dot = name.IndexOf('.', StringComparison.Ordinal); dot >= 0; dot = name.IndexOf('.', dot + 1))
        {
            if (_policies.TryGetValue(name[dot..], out policy))
            {
                return policy;
            }
        }

        return _default;
    }

    /// <summary>
    /// Whether the certificate the server presented verifies: a chain to a system root or to one of
    /// <see cref="DeliveryOptions.TrustedCertificateAuthorities"/>, valid now, for the name the session was opened
    /// with (the MX host name, which .NET checked and reported in <paramref name="errors"/>).
    /// </summary>
    public bool Verifies(X509Certificate? certificate, X509Chain? chain, SslPolicyErrors errors)
    {
        if (certificate is null || (errors & (SslPolicyErrors.RemoteCertificateNotAvailable | SslPolicyErrors.RemoteCertificateNameMismatch)) != 0)
        {
            return false;
        }

        if (errors == SslPolicyErrors.None)
        {
            return true;
        }

        if (_trustAnchors is null)
        {
            return false;
        }

        // Only chain errors are left: try again with the configured anchors (a private CA, a test root) as roots.
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(_trustAnchors);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        if (chain is not null)
        {
            // The intermediates the server sent.
            foreach (var element in chain.ChainElements)
            {
                custom.ChainPolicy.ExtraStore.Add(element.Certificate);
            }
        }

        if (certificate is X509Certificate2 typed)
        {
            return custom.Build(typed);
        }

        using var copy = X509CertificateLoader.LoadCertificate(certificate.GetRawCertData());
        return custom.Build(copy);
    }

    /// <summary>How an attempt's TLS is reported: <c>TLSv1.3 TLS_AES_256_GCM_SHA384 verified</c>, or <c>none</c>.</summary>
    public static string Describe(bool secure, SslProtocols protocol, TlsCipherSuite? cipherSuite, bool verified) =>
        Describe(secure, protocol, cipherSuite, verified ? "verified" : "unverified");

    /// <summary>
    /// How an attempt's TLS is reported, with how the certificate was checked: <c>verified</c>/<c>unverified</c> (PKIX),
    /// <c>dane-ee</c>/<c>dane-ta</c> (the TLSA record type that matched).
    /// </summary>
    public static string Describe(bool secure, SslProtocols protocol, TlsCipherSuite? cipherSuite, string verification)
    {
        if (!secure)
        {
            return "none";
        }

        var version = protocol switch
        {
            SslProtocols.Tls13 => "TLSv1.3",
            SslProtocols.Tls12 => "TLSv1.2",
            _ => protocol.ToString(),
        };
        return $"{version} {(cipherSuite?.ToString() ?? "unknown-cipher")} {verification}";
    }

    /// <summary>Reads PEM certificates from <paramref name="path"/>; false with a message naming the key and file when there are none.</summary>
    public static bool TryLoadTrustAnchors(string path, out X509Certificate2Collection anchors, out string? error)
    {
        anchors = [];
        error = null;
        try
        {
            anchors.ImportFromPemFile(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or CryptographicException)
        {
            error = $"Elemta:Delivery:TrustedCertificateAuthorities: cannot read certificates from '{path}': {ex.Message}";
            return false;
        }

        if (anchors.Count == 0)
        {
            error = $"Elemta:Delivery:TrustedCertificateAuthorities: '{path}' holds no PEM certificate.";
            return false;
        }

        return true;
    }
}
