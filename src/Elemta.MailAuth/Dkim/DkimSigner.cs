using System.Runtime.InteropServices;
using System.Text;
using MimeKit;
using MimeKit.Cryptography;

namespace Elemta.MailAuth.Dkim;

/// <summary>
/// Signs messages for the domains configured under <c>Elemta:Dkim:Signing</c> (RFC 6376 §5): relaxed/relaxed,
/// rsa-sha256 or ed25519-sha256 (RFC 8463) after the key's type, the configured header fields with From, To and
/// Subject over-signed. MimeKit computes the signature; this class chooses the key and the fields and hands back the
/// header field to prepend, so the message bytes themselves are never rewritten.
/// </summary>
public sealed class DkimSigner
{
    /// <summary>Fields MimeKit refuses to sign (RFC 6376 §5.4: relays add or change them).</summary>
    internal static readonly HashSet<string> Unsignable = new(StringComparer.OrdinalIgnoreCase)
    {
        "Return-Path", "Received", "Comments", "Keywords", "Bcc", "Resent-Bcc", "DKIM-Signature",
    };

    private readonly Dictionary<string, (string Selector, DkimPrivateKey Key)> _keys = new(StringComparer.OrdinalIgnoreCase);
    private readonly IReadOnlyList<string> _headers;
    private readonly HashSet<string> _overSigned;
    private readonly TimeProvider _time;

    /// <summary>Creates the signer, reading every configured key file.</summary>
    /// <param name="options">The domains, keys and header fields.</param>
    /// <param name="time">The clock for <c>t=</c>.</param>
    /// <exception cref="DkimKeyFileException">A key file cannot be used (the message names the domain's KeyFile key).</exception>
    public DkimSigner(DkimOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        foreach (var (domain, entry) in options.Signing)
        {
            if (string.IsNullOrWhiteSpace(entry.Selector) || string.IsNullOrWhiteSpace(entry.KeyFile))
            {
                throw new DkimKeyFileException($"{DkimOptions.SectionName}:Signing:{domain} needs both Selector and KeyFile");
            }

            try
            {
                _keys[domain.TrimEnd('.')] = (entry.Selector, DkimPrivateKey.Load(entry.KeyFile));
            }
            catch (DkimKeyFileException ex)
            {
                throw new DkimKeyFileException($"{DkimOptions.SectionName}:Signing:{domain}:KeyFile: {ex.Message}");
            }
        }

        _overSigned = new HashSet<string>(options.EffectiveOverSignedHeaders(), StringComparer.OrdinalIgnoreCase);
        _headers = [.. options.EffectiveHeaders().Concat(_overSigned).Distinct(StringComparer.OrdinalIgnoreCase)];
        _time = time ?? TimeProvider.System;
    }

    /// <summary>The domains there is a key for.</summary>
    public IReadOnlyCollection<string> Domains => _keys.Keys;

    /// <summary>Whether there is a key for <paramref name="domain"/> (exact match, case-insensitive).</summary>
    /// <param name="domain">A domain.</param>
    public bool CanSign(string domain) => _keys.ContainsKey(domain.TrimEnd('.'));

    /// <summary>
    /// Signs <paramref name="message"/> with <paramref name="domain"/>'s key and returns the DKIM-Signature header field
    /// to put in front of it (folded, ending in CRLF), or null when no key is configured for the domain.
    /// </summary>
    /// <param name="message">The message as it will be sent: header, blank line, body, CRLF line ends.</param>
    /// <param name="domain">The signing domain (<c>d=</c>), usually the From address's domain so DMARC aligns.</param>
    /// <param name="cancellationToken">Cancels reading the message.</param>
    /// <exception cref="FormatException">The bytes are not a message MimeKit can read (no header at all).</exception>
    public async Task<string?> SignAsync(ReadOnlyMemory<byte> message, string domain, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(domain);
        if (!_keys.TryGetValue(domain.TrimEnd('.'), out var entry))
        {
            return null;
        }

        var bytes = MemoryMarshal.TryGetArray(message, out var segment) ? segment : new ArraySegment<byte>(message.ToArray());
        MimeMessage parsed;
        using (var stream = new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false))
        {
            parsed = await MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
        }

        var signer = new TimedSigner(entry.Key, domain.TrimEnd('.'), entry.Selector, _time)
        {
            HeaderCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
            BodyCanonicalizationAlgorithm = DkimCanonicalizationAlgorithm.Relaxed,
        };
        signer.Sign(FormatOptions.Default, parsed, FieldsToSign(parsed));
        var field = parsed.Headers[0];
        // Header.RawValue is already folded; only its line ends follow the platform and must become CRLF.
        var value = Encoding.ASCII.GetString(field.RawValue).ReplaceLineEndings("\r\n");
        return $"{field.Field}:{value}";
    }

    /// <summary>
    /// The <c>h=</c> list: each configured field once per instance in the message (MimeKit signs instances bottom-up),
    /// and the over-signed ones once more, which signs their absence (RFC 6376 §5.4.2, §8.15).
    /// </summary>
    internal IList<string> FieldsToSign(MimeMessage message)
    {
        var fields = new List<string>();
        foreach (var name in _headers)
        {
            // MimeKit keeps Content-* fields on the body entity.
            var count = message.Headers.Count(h => h.Field.Equals(name, StringComparison.OrdinalIgnoreCase));
            if (name.StartsWith("Content-", StringComparison.OrdinalIgnoreCase) && message.Body is not null)
            {
                count = message.Body.Headers.Count(h => h.Field.Equals(name, StringComparison.OrdinalIgnoreCase));
            }

            if (_overSigned.Contains(name))
            {
                count++;
            }

            for (var i = 0; i < count; i++)
            {
                fields.Add(name);
            }
        }

        return fields;
    }

    /// <summary>MimeKit's signer with <c>t=</c> from the injected clock.</summary>
    private sealed class TimedSigner(DkimPrivateKey key, string domain, string selector, TimeProvider time)
        : MimeKit.Cryptography.DkimSigner(key.Key, domain, selector,
            key.KeyType == "ed25519" ? DkimSignatureAlgorithm.Ed25519Sha256 : DkimSignatureAlgorithm.RsaSha256)
    {
        protected override long GetTimestamp() => time.GetUtcNow().ToUnixTimeSeconds();
    }
}
