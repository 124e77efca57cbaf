using System.Globalization;
using System.Runtime.InteropServices;
using MimeKit;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;

namespace Elemta.MailAuth.Dkim;

/// <summary>
/// Verifies every DKIM-Signature of a message (RFC 6376 §6), each on its own: rsa-sha256 and ed25519-sha256 (RFC 8463)
/// through MimeKit's verifier, keys from DNS through <see cref="DnsDkimKeyLocator"/>. rsa-sha1 and RSA keys under 1024
/// bits are refused as RFC 8301 requires; a verified signature whose <c>l=</c> leaves body content unsigned gets
/// <see cref="DkimVerificationOptions.UnsignedBodyContent"/>.
/// </summary>
public sealed class DkimVerifier
{
    /// <summary>RFC 8301 §3.2: "Verifiers MUST NOT consider signatures using RSA keys of less than 1024 bits as valid".</summary>
    public const int MinimumRsaBits = 1024;

    private static readonly string[] RequiredTags = ["v", "a", "b", "bh", "d", "h", "s"];

    private readonly DnsDkimKeyLocator _keys;
    private readonly DkimVerificationOptions _options;
    private readonly TimeProvider _time;

    /// <summary>Creates the verifier.</summary>
    /// <param name="keys">Where keys come from.</param>
    /// <param name="options">The policy for unsigned body content and the clock skew.</param>
    /// <param name="time">The clock for <c>x=</c>.</param>
    public DkimVerifier(DnsDkimKeyLocator keys, DkimVerificationOptions options, TimeProvider? time = null)
    {
        ArgumentNullException.ThrowIfNull(keys);
        ArgumentNullException.ThrowIfNull(options);
        _keys = keys;
        _options = options;
        _time = time ?? TimeProvider.System;
    }

    /// <summary>
    /// Verifies each DKIM-Signature header field of <paramref name="message"/>, top to bottom. No signature: an empty
    /// list (the RFC 8601 result <c>dkim=none</c>).
    /// </summary>
    /// <param name="message">The message as received: header, blank line, body (CRLF or LF line ends).</param>
    /// <param name="cancellationToken">Cancels the key queries.</param>
    public async Task<IReadOnlyList<DkimResult>> VerifyAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        var bytes = MemoryMarshal.TryGetArray(message, out var segment) ? segment : new ArraySegment<byte>(message.ToArray());
        MimeMessage parsed;
        using (var stream = new MemoryStream(bytes.Array!, bytes.Offset, bytes.Count, writable: false))
        {
            try
            {
                // In memory: the synchronous parser does the same work without the async state machines.
                parsed = MimeMessage.Load(stream, cancellationToken);
            }
            catch (FormatException)
            {
                // Not even a header MimeKit can read: there is no signature to speak of.
                return [];
            }
        }

        var results = new List<DkimResult>();
        foreach (var header in parsed.Headers.Where(h => h.Id == HeaderId.DkimSignature).ToList())
        {
            results.Add(await VerifyOneAsync(parsed, header, message, cancellationToken).ConfigureAwait(false));
        }

        return results;
    }

    private async Task<DkimResult> VerifyOneAsync(MimeMessage message, Header field, ReadOnlyMemory<byte> raw, CancellationToken cancellationToken)
    {
        var tags = DkimTagList.Parse(field.Value, out var tagError);
        if (tags is null)
        {
            return new DkimResult(DkimResultKind.PermError, null, null, null, $"malformed signature: {tagError}", null);
        }

        var domain = tags["d"];
        var selector = tags["s"];
        var algorithm = tags["a"];
        var b = tags["b"] is { } bValue ? DkimTagList.Compact(bValue) : null;
        DkimResult Result(DkimResultKind kind, string reason) =>
            new(kind, domain, selector, algorithm, reason, b is null ? null : b[..Math.Min(8, b.Length)]);

        if (RequiredTags.FirstOrDefault(t => tags[t] is null) is { } missing)
        {
            return Result(DkimResultKind.PermError, $"signature has no {missing}= tag");
        }

        if (tags["v"] != "1")
        {
            return Result(DkimResultKind.PermError, $"unknown signature version v={tags["v"]}");
        }

        switch (algorithm)
        {
            case "rsa-sha256" or "ed25519-sha256":
                break;
            case "rsa-sha1":
                // RFC 8301 §3.1: verifiers "MUST NOT consider signatures using rsa-sha1 valid".
                return Result(DkimResultKind.Fail, "rsa-sha1 is not accepted (RFC 8301)");
            default:
                return Result(DkimResultKind.PermError, $"unknown algorithm a={algorithm}");
        }

        if (!tags["h"]!.Split(':').Any(h => h.Trim().Equals("from", StringComparison.OrdinalIgnoreCase)))
        {
            return Result(DkimResultKind.PermError, "From is not signed (h= lacks from)");
        }

        if (tags["i"] is { } identity)
        {
            var at = identity.LastIndexOf('@');
            var identityDomain = at < 0 ? identity : identity[(at + 1)..];
            if (!identityDomain.Equals(domain, StringComparison.OrdinalIgnoreCase)
                && !identityDomain.EndsWith("." + domain, StringComparison.OrdinalIgnoreCase))
            {
                return Result(DkimResultKind.PermError, $"i={identity} is not in d={domain}");
            }
        }

        var canonicalization = tags["c"] ?? "simple/simple";
        var bodyRelaxed = canonicalization.Split('/') switch
        {
            [_] => false,
            [_, var body] => body.Trim() == "relaxed",
            _ => false,
        };

        if (tags["x"] is { } expiresText)
        {
            if (!long.TryParse(expiresText, NumberStyles.None, CultureInfo.InvariantCulture, out var expires))
            {
                return Result(DkimResultKind.PermError, $"x={expiresText} is not a timestamp");
            }

            // In seconds, as x= is: no DateTimeOffset to overflow for an x= far in the future.
            if (expires < _time.GetUtcNow().ToUnixTimeSeconds() - (long)_options.ClockSkew.TotalSeconds)
            {
                return Result(DkimResultKind.PermError, "signature expired (x=)");
            }
        }

        long? signedLength = null;
        if (tags["l"] is { } lengthText)
        {
            if (!long.TryParse(lengthText, NumberStyles.None, CultureInfo.InvariantCulture, out var length))
            {
                return Result(DkimResultKind.PermError, $"l={lengthText} is not a length");
            }

            signedLength = length;
        }

        var lookup = await _keys.LookupAsync(domain!, selector!, cancellationToken).ConfigureAwait(false);
        switch (lookup.Status)
        {
            case DkimKeyLookupStatus.TemporaryError:
                return Result(DkimResultKind.TempError, lookup.Error ?? "key query failed");
            case DkimKeyLookupStatus.NotFound or DkimKeyLookupStatus.Invalid:
                return Result(DkimResultKind.PermError, lookup.Error ?? "no key");
        }

        var key = lookup.Key!;
        if (key.KeyType != algorithm![..algorithm.IndexOf('-', StringComparison.Ordinal)])
        {
            return Result(DkimResultKind.PermError, $"key is k={key.KeyType}, signature is a={algorithm}");
        }

        if (key.Hashes is { } hashes && !hashes.Contains("sha256"))
        {
            return Result(DkimResultKind.PermError, $"key allows h={string.Join(':', hashes)}, not sha256");
        }

        if (key.KeyType == "rsa" && key.Bits < MinimumRsaBits)
        {
            return Result(DkimResultKind.PermError, $"RSA key of {key.Bits} bits is too short (RFC 8301 asks at least {MinimumRsaBits})");
        }

        var verifier = new MimeKitVerifier(key.Key);
        bool valid;
        try
        {
            // The key is already in hand (FixedKey): nothing to wait for, so the synchronous check.
            valid = verifier.Verify(message, field, cancellationToken);
        }
        catch (Exception ex) when (ex is FormatException or ParseException or ArgumentException or CryptoException or NotSupportedException)
        {
            return Result(DkimResultKind.PermError, $"malformed signature: {ex.Message}");
        }

        if (!valid)
        {
            return Result(DkimResultKind.Fail, MimeKitVerifier.BodyHashMatches(message, algorithm, bodyRelaxed, signedLength, tags["bh"]!)
                ? "signature did not verify"
                : "body hash did not verify");
        }

        if (signedLength is { } signed)
        {
            var actual = DkimBodyCanonicalization.Length(Body(raw.Span), bodyRelaxed);
            if (signed > actual)
            {
                // §3.5: l= longer than the body cannot be right (MimeKit hashes what there is).
                return Result(DkimResultKind.PermError, $"l={signed} is longer than the body ({actual} canonical bytes)");
            }

            if (signed < actual)
            {
                var reason = $"l={signed} leaves {actual - signed} of {actual} body bytes unsigned";
                return _options.UnsignedBodyContent switch
                {
                    DkimUnsignedContentPolicy.Fail => Result(DkimResultKind.Fail, reason),
                    DkimUnsignedContentPolicy.Policy => Result(DkimResultKind.Policy, reason),
                    _ => Result(DkimResultKind.Neutral, reason),
                };
            }
        }

        return Result(DkimResultKind.Pass, key.Testing ? "key in testing mode (t=y)" : string.Empty);
    }

    /// <summary>The raw body: what follows the first empty line (CRLF CRLF, or LF LF), empty when there is none.</summary>
    private static ReadOnlySpan<byte> Body(ReadOnlySpan<byte> raw)
    {
        var lineStart = 0;
        while (lineStart < raw.Length)
        {
            var end = raw[lineStart..].IndexOf((byte)'\n');
            if (end < 0)
            {
                return [];
            }

            var line = raw.Slice(lineStart, end);
            lineStart += end + 1;
            if (line.IsEmpty || (line.Length == 1 && line[0] == '\r'))
            {
                return raw[lineStart..];
            }
        }

        return [];
    }

    /// <summary>MimeKit's verifier over one key already found, with the body-hash check it keeps protected.</summary>
    private sealed class MimeKitVerifier(AsymmetricKeyParameter key) : MimeKit.Cryptography.DkimVerifier(new FixedKey(key))
    {
        public static bool BodyHashMatches(MimeMessage message, string algorithm, bool relaxed, long? length, string bodyHash)
        {
            var options = FormatOptions.Default.Clone();
            options.NewLineFormat = NewLineFormat.Dos;
            return VerifyBodyHash(options, message,
                algorithm == "ed25519-sha256" ? DkimSignatureAlgorithm.Ed25519Sha256 : DkimSignatureAlgorithm.RsaSha256,
                relaxed ? DkimCanonicalizationAlgorithm.Relaxed : DkimCanonicalizationAlgorithm.Simple,
                length is { } l ? (int)Math.Min(l, int.MaxValue) : -1, DkimTagList.Compact(bodyHash));
        }
    }

    private sealed class FixedKey(AsymmetricKeyParameter key) : DkimPublicKeyLocatorBase
    {
        public override AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector, CancellationToken cancellationToken = default) => key;

        public override Task<AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector, CancellationToken cancellationToken = default) =>
            Task.FromResult(key);
    }
}
