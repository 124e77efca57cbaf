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

    private readonly Dictionary<string, (string Domain, string Selector, DkimPrivateKey Key)> _keys = new(StringComparer.OrdinalIgnoreCase);
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
                _keys[domain.TrimEnd('.')] = (domain.TrimEnd('.').ToLowerInvariant(), entry.Selector, DkimPrivateKey.Load(entry.KeyFile));
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

    /// <summary>The domains there is a key for, in lower case.</summary>
    public IReadOnlyCollection<string> Domains => [.. _keys.Values.Select(k => k.Domain)];

    /// <summary>Whether there is a key for <paramref name="domain"/> (exact match, case-insensitive).</summary>
    /// <param name="domain">A domain.</param>
    public bool CanSign(string domain) => _keys.ContainsKey(domain.TrimEnd('.'));

    /// <summary>
    /// The configured domain that signs for <paramref name="authorDomain"/>: the domain itself, else its closest parent
    /// with a key (mail from <c>news.example.org</c> signed as <c>example.org</c> still aligns for DMARC's relaxed
    /// mode); null when there is none.
    /// </summary>
    /// <param name="authorDomain">The From address's domain.</param>
    public string? SigningDomainFor(string authorDomain)
    {
        ArgumentNullException.ThrowIfNull(authorDomain);
        var domain = authorDomain.TrimEnd('.');
        while (domain.Length > 0)
        {
            if (_keys.TryGetValue(domain, out var entry))
            {
                return entry.Domain;
            }

            var dot = domain.IndexOf('.', StringComparison.Ordinal);
            domain = dot < 0 ? string.Empty : domain[(dot + 1)..];
        }

        return null;
    }

    /// <summary>
    /// Signs <paramref name="message"/> for its author: the domain of the first From address, or the closest parent
    /// of it that has a key (<see cref="SigningDomainFor"/>). Returns the DKIM-Signature field to put in front of the
    /// message, or null when there is no From address or no key for its domain.
    /// </summary>
    /// <param name="message">The message as it will be sent: header, blank line, body, CRLF line ends.</param>
    /// <param name="cancellationToken">Cancels reading the message.</param>
    /// <exception cref="FormatException">The bytes are not a message MimeKit can read (no header at all).</exception>
    public async Task<string?> SignAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var parsed = await ParseAsync(message, cancellationToken).ConfigureAwait(false);
        var author = parsed.From.Mailboxes.FirstOrDefault()?.Domain;
        return author is not null && SigningDomainFor(author) is { } domain ? Sign(parsed, domain) : null;
    }

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
        if (!_keys.ContainsKey(domain.TrimEnd('.')))
        {
            return null;
        }

        return Sign(await ParseAsync(message, cancellationToken).ConfigureAwait(false), domain.TrimEnd('.'));
    }

    private static async Task<MimeMessage> ParseAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var bytes = MemoryMarshal.TryGetArray(message, out var segment) ? segment : new ArraySegment<byte>(message.ToArray());
        using var stream = new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false);
        return await MimeMessage.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
    }

    private string Sign(MimeMessage parsed, string domain)
    {
        var entry = _keys[domain];
        // d= as configured (lower case), whatever case the caller wrote the domain in.
        var signer = new TimedSigner(entry.Key, entry.Domain, entry.Selector, _time)
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
