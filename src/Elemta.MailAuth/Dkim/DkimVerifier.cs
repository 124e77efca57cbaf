using System.Globalization;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Parameters;

namespace Elemta.MailAuth.Dkim;

/// <summary>
/// Verifies every DKIM-Signature of a message (RFC 6376 §6), each on its own: rsa-sha256 with .NET's RSA (OpenSSL) and
/// ed25519-sha256 (RFC 8463) with BouncyCastle's Ed25519, over the header and body canonicalized from the stored bytes
/// (<see cref="DkimHeaderFields"/>, <see cref="DkimBodyCanonicalization"/>), keys from DNS through
/// <see cref="DnsDkimKeyLocator"/>. rsa-sha1 and RSA keys under 1024
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
        var fields = DkimHeaderFields.Parse(message.Span, out var bodyStart);
        List<DkimResult>? results = null;
        MessageState? state = null;
        foreach (var field in fields)
        {
            if (field.Is(message.Span, "DKIM-Signature"))
            {
                state ??= new MessageState(fields, bodyStart);
                (results ??= []).Add(await VerifyOneAsync(message, state, field, cancellationToken).ConfigureAwait(false));
            }
        }

        return results ?? (IReadOnlyList<DkimResult>)[];
    }

    private async ValueTask<DkimResult> VerifyOneAsync(ReadOnlyMemory<byte> message, MessageState state, DkimHeaderField field, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var tags = DkimTagList.Parse(DkimHeaderFields.Value(message.Span, field), out var tagError);
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

        // c= is header/body, each simple or relaxed; a header algorithm alone means simple for the body (§3.5).
        var canonicalization = tags["c"] ?? "simple/simple";
        var algorithms = canonicalization.Split('/').Select(a => a.Trim()).ToArray();
        if (algorithms.Length > 2 || algorithms.Any(a => a is not ("simple" or "relaxed")))
        {
            return Result(DkimResultKind.PermError, $"malformed signature: c={canonicalization} is not simple or relaxed");
        }

        var headerRelaxed = algorithms[0] == "relaxed";
        var bodyRelaxed = algorithms is [_, "relaxed"];

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

        var lookup = _keys.TryGetCached(domain!, selector!) is { } cached
            ? cached
            : await _keys.LookupAsync(domain!, selector!, cancellationToken).ConfigureAwait(false);
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

        var signature = new byte[(b!.Length * 3 / 4) + 3];
        var expectedBodyHash = new byte[(tags["bh"]!.Length * 3 / 4) + 3];
        if (!Convert.TryFromBase64String(b, signature, out var signatureLength))
        {
            return Result(DkimResultKind.PermError, "malformed signature: b= is not base64");
        }

        if (!Convert.TryFromBase64String(DkimTagList.Compact(tags["bh"]!), expectedBodyHash, out var bodyHashLength))
        {
            return Result(DkimResultKind.PermError, "malformed signature: bh= is not base64");
        }

        var (bodyHash, actual) = state.BodyHash(message.Span, bodyRelaxed, signedLength);
        if (!bodyHash.AsSpan().SequenceEqual(expectedBodyHash.AsSpan(0, bodyHashLength)))
        {
            return Result(DkimResultKind.Fail, "body hash did not verify");
        }

        if (!VerifyHeaderSignature(message.Span, state.Fields, field, tags["h"]!, headerRelaxed, key, signature.AsSpan(0, signatureLength)))
        {
            return Result(DkimResultKind.Fail, "signature did not verify");
        }

        if (signedLength is { } signed)
        {
            if (signed > actual)
            {
                // §3.5: l= longer than the body cannot be right (only the body there is was hashed).
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

    /// <summary>
    /// Hashes the signed header data (the fields of <c>h=</c> and this signature without its <c>b=</c> value, RFC 6376
    /// §3.7) and checks the signature over the digest (<see cref="DkimSignatureCheck"/>).
    /// </summary>
    private static bool VerifyHeaderSignature(ReadOnlySpan<byte> message, List<DkimHeaderField> fields, DkimHeaderField field,
        string signedHeaders, bool relaxed, DkimPublicKey key, ReadOnlySpan<byte> signature)
    {
        Span<byte> digest = stackalloc byte[32];
        using (var data = new ByteBuilder())
        {
            DkimHeaderFields.WriteSignedData(message, fields, signedHeaders.Split(':'), field, relaxed, data);
            SHA256.HashData(data.Written, digest);
        }

        return DkimSignatureCheck.Verify(key.Rsa, key.Key as Ed25519PublicKeyParameters, digest, signature);
    }

    /// <summary>What the signatures of one message share: its header fields and the body hashes computed so far.</summary>
    private sealed class MessageState(List<DkimHeaderField> fields, int bodyStart)
    {
        private List<(bool Relaxed, long? Length, byte[] Hash, long Total)>? _bodyHashes;

        public List<DkimHeaderField> Fields => fields;

        /// <summary>The body hash for a canonicalization and l=, computed once per message (signatures often share them).</summary>
        public (byte[] Hash, long Total) BodyHash(ReadOnlySpan<byte> message, bool relaxed, long? length)
        {
            foreach (var known in _bodyHashes ?? [])
            {
                if (known.Relaxed == relaxed && known.Length == length)
                {
                    return (known.Hash, known.Total);
                }
            }

            var hash = new byte[32];
            var total = DkimBodyCanonicalization.Sha256(message[bodyStart..], relaxed, length, hash);
            (_bodyHashes ??= []).Add((relaxed, length, hash, total));
            return (hash, total);
        }
    }
}
