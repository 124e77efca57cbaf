using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Elemta.MailAuth.Arc;

/// <summary>Who seals and how (RFC 8617 §5.1).</summary>
public sealed record ArcSealerSettings
{
    /// <summary>The signing domain (<c>d=</c> of the ARC-Seal and ARC-Message-Signature).</summary>
    public required string Domain { get; init; }

    /// <summary>The selector (<c>s=</c>); the public key is at <c>&lt;selector&gt;._domainkey.&lt;domain&gt;</c>.</summary>
    public required string Selector { get; init; }

    /// <summary>
    /// This server's authserv-id (RFC 8601 §2.5): the Authentication-Results header fields with this id are copied into
    /// the ARC-Authentication-Results header field.
    /// </summary>
    public required string AuthServId { get; init; }

    /// <summary>The header fields the ARC-Message-Signature covers (<c>h=</c>); must include From.</summary>
    public IReadOnlyList<string> SignedHeaders { get; init; } =
        ["From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To", "References", "MIME-Version",
         "Content-Type", "Content-Transfer-Encoding", "List-Id", "DKIM-Signature"];
}

/// <summary>
/// Adds an ARC set (ARC-Authentication-Results, ARC-Message-Signature, ARC-Seal; RFC 8617 §5.1) to a message with
/// MimeKit's <see cref="ArcSigner"/>: rsa-sha256, relaxed/relaxed canonicalization, <c>t=</c> from the
/// <see cref="TimeProvider"/>. The AAR copies this server's Authentication-Results (those with
/// <see cref="ArcSealerSettings.AuthServId"/>, merged in order); <c>cv=</c> is <c>none</c> for the first set, else
/// the <c>arc=</c> result those Authentication-Results carry (the caller validates the chain first and writes
/// <c>arc=pass</c> or <c>arc=fail</c> there). A message whose chain already carries <c>cv=fail</c> is not sealed.
/// </summary>
public sealed class ArcSealer
{
    private readonly ArcSealerSettings _settings;
    private readonly AsymmetricKeyParameter _key;
    private readonly TimeProvider _time;

    /// <summary>Creates the sealer.</summary>
    /// <param name="settings">Domain, selector, authserv-id, signed headers.</param>
    /// <param name="privateKeyPem">The RSA private key (PEM, PKCS#1 or PKCS#8).</param>
    /// <param name="time">The clock for <c>t=</c>; the system clock when null.</param>
    /// <exception cref="ArgumentException">The settings are incomplete or the key cannot be read.</exception>
    public ArcSealer(ArcSealerSettings settings, Stream privateKeyPem, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(settings);
        ArgumentNullException.ThrowIfNull(privateKeyPem);
        ArgumentException.ThrowIfNullOrWhiteSpace(settings.Domain);
        ArgumentException.ThrowIfNullOrWhiteSpace(settings.Selector);
        ArgumentException.ThrowIfNullOrWhiteSpace(settings.AuthServId);
        if (!settings.SignedHeaders.Any(h => h.Equals("From", StringComparison.OrdinalIgnoreCase)))
        {
            throw new ArgumentException("The ARC-Message-Signature must cover the From header field (RFC 8617 §4.1.2).", nameof(settings));
        }

        _settings = settings;
        _time = time ?? TimeProvider.System;
        try
        {
            // MimeKit reads the PEM key; the throwaway signer only serves that.
            _key = new Signer(privateKeyPem, settings, _ => null, () => 0).Key;
        }
        catch (Exception ex) when (ex is FormatException or IOException or InvalidCastException or ArgumentException)
        {
            throw new ArgumentException($"The ARC private key cannot be read: {ex.Message}", nameof(privateKeyPem), ex);
        }
    }

    /// <summary>
    /// Seals the message in place, putting the three header fields on top. Returns false without touching it when
    /// there is no Authentication-Results header field of this authserv-id to copy, when the chain already carries
    /// <c>cv=fail</c>, or when its ARC header fields are structurally broken.
    /// </summary>
    /// <param name="message">The message to seal (after every change this server makes to it).</param>
    /// <param name="cancellationToken">Stops the signing.</param>
    public async Task<bool> SealAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var before = message.Headers.Count;
        var signer = new Signer(_key, _settings, CollectResults, () => _time.GetUtcNow().ToUnixTimeSeconds());
        try
        {
            await signer.SignAsync(message, _settings.SignedHeaders.ToList(), cancellationToken).ConfigureAwait(false);
        }
        catch (FormatException)
        {
            // MimeKit refuses to extend a structurally broken chain (a missing, duplicate or unparsable ARC header
            // field): such a chain already fails validation (RFC 8617 §5.2 step 3), and a new set cannot mend it.
            return false;
        }

        return message.Headers.Count > before;
    }

    /// <summary>This server's Authentication-Results, merged (suite cases <c>ar_merged1</c>, <c>ar_merged2</c>).</summary>
    private AuthenticationResults? CollectResults(MimeMessage message)
    {
        AuthenticationResults? merged = null;
        foreach (var header in message.Headers.Where(h => h.Id == HeaderId.AuthenticationResults))
        {
            if (!AuthenticationResults.TryParse(header.RawValue, out var results)
                || !string.Equals(results.AuthenticationServiceIdentifier, _settings.AuthServId, StringComparison.OrdinalIgnoreCase))
            {
                continue;
            }

            if (merged is null)
            {
                merged = results;
                continue;
            }

            foreach (var result in results.Results)
            {
                merged.Results.Add(result);
            }
        }

        return merged;
    }

    private sealed class Signer : ArcSigner
    {
        private readonly Func<MimeMessage, AuthenticationResults?> _results;
        private readonly Func<long> _timestamp;

        public Signer(Stream key, ArcSealerSettings settings, Func<MimeMessage, AuthenticationResults?> results, Func<long> timestamp)
            : base(key, settings.Domain, settings.Selector, DkimSignatureAlgorithm.RsaSha256)
        {
            _results = results;
            _timestamp = timestamp;
            Relaxed();
        }

        public Signer(AsymmetricKeyParameter key, ArcSealerSettings settings, Func<MimeMessage, AuthenticationResults?> results, Func<long> timestamp)
            : base(key, settings.Domain, settings.Selector, DkimSignatureAlgorithm.RsaSha256)
        {
            _results = results;
            _timestamp = timestamp;
            Relaxed();
        }

        /// <summary>The key MimeKit read, for the signers of later messages.</summary>
        public AsymmetricKeyParameter Key => PrivateKey;

        private void Relaxed()
        {
            // Relaxed survives the header refolding and whitespace changes of later hops.
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed;
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed;
        }

        protected override AuthenticationResults GenerateArcAuthenticationResults(FormatOptions options, MimeMessage message,
            CancellationToken cancellationToken) => _results(message)!;

        protected override Task<AuthenticationResults> GenerateArcAuthenticationResultsAsync(FormatOptions options, MimeMessage message,
            CancellationToken cancellationToken) => Task.FromResult(_results(message)!);

        protected override long GetTimestamp() => _timestamp();
    }
}
