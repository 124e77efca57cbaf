using System.Globalization;
using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using System.Text;
using Elemta.MailAuth.Dkim;
using MimeKit.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Parameters;

namespace Elemta.MailAuth.Arc;

/// <summary>
/// RFC 8617 §5.2 chain validation over the stored bytes, following MimeKit 4.18's <see cref="ArcVerifier"/> step for
/// step (the same structural checks, error flags and order), but with the signatures checked by .NET's RSA.
/// </summary>
/// <remarks>
/// Why not MimeKit's verifier: it checks every ARC-Message-Signature and ARC-Seal with BouncyCastle's managed RSA,
/// ~280 µs per 2048-bit check against ~18 µs with .NET's <see cref="RSA"/> (OpenSSL), and it offers no hook for
/// another RSA (its signature context is internal). The canonicalization is <see cref="DkimHeaderFields"/>' and
/// <see cref="DkimBodyCanonicalization"/>'s, as for DKIM; the public ARC test suite (175 cases) checks the verdicts.
/// </remarks>
internal static class ArcChainVerifier
{
    private const int MaxInstances = 50;
    private const ArcValidationErrors CvErrors = ArcValidationErrors.InvalidArcSealChainValidationValue | ArcValidationErrors.MissingArcSealChainValidationValue;

    // .NET's RSA for each BouncyCastle key the locator hands out (ArcKeyLocator keeps its keys, so this is once per key).
    private static readonly ConditionalWeakTable<RsaKeyParameters, RSA> RsaKeys = [];

    /// <summary>Validates the chain: the chain result and the errors, as MimeKit's ArcValidationResult reports them.</summary>
    public static async Task<(ArcSignatureValidationResult Chain, ArcValidationErrors Errors)> VerifyAsync(
        ReadOnlyMemory<byte> message, IDkimPublicKeyLocator keys, CancellationToken cancellationToken)
    {
        var fields = DkimHeaderFields.Parse(message.Span, out var bodyStart);
        var structure = Sets(message.Span, fields, out var sets, out var count, out var errors);
        if (structure == ArcSignatureValidationResult.None)
        {
            return (structure, errors);
        }

        var chain = structure;
        if (structure == ArcSignatureValidationResult.Fail && (errors & ~CvErrors) != 0)
        {
            // Only a wrong or missing cv= lets validation go on (to report the signatures too); anything else ends it.
            return (chain, errors);
        }

        var newest = count - 1;
        try
        {
            if (!await VerifyMessageSignatureAsync(message, fields, bodyStart, sets[newest]!, keys, cancellationToken).ConfigureAwait(false))
            {
                errors |= ArcValidationErrors.MessageSignatureValidationFailed;
                chain = ArcSignatureValidationResult.Fail;
            }
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            // As MimeKit: a malformed tag, a key that cannot be found or used, is a failed signature.
            errors |= ArcValidationErrors.MessageSignatureValidationFailed;
            chain = ArcSignatureValidationResult.Fail;
        }

        for (var i = newest; i >= 0; i--)
        {
            try
            {
                if (!await VerifySealAsync(message, sets, i, keys, cancellationToken).ConfigureAwait(false))
                {
                    errors |= ArcValidationErrors.SealValidationFailed;
                    chain = ArcSignatureValidationResult.Fail;
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                errors |= ArcValidationErrors.SealValidationFailed;
                chain = ArcSignatureValidationResult.Fail;
            }
        }

        return (chain, errors);
    }

    /// <summary>One ARC set: its three fields and the parsed tags of the signature fields.</summary>
    internal sealed class ArcSet
    {
        public DkimHeaderField? Results { get; private set; }

        public DkimHeaderField? MessageSignature { get; private set; }

        public Dictionary<string, string>? MessageSignatureTags { get; private set; }

        public DkimHeaderField? Seal { get; private set; }

        public Dictionary<string, string>? SealTags { get; private set; }

        public bool Add(ArcField kind, DkimHeaderField field, Dictionary<string, string>? tags)
        {
            switch (kind)
            {
                case ArcField.Results when Results is null:
                    Results = field;
                    return true;
                case ArcField.MessageSignature when MessageSignature is null:
                    (MessageSignature, MessageSignatureTags) = (field, tags);
                    return true;
                case ArcField.Seal when Seal is null:
                    (Seal, SealTags) = (field, tags);
                    return true;
                default:
                    return false;
            }
        }
    }

    internal enum ArcField
    {
        None,
        Results,
        MessageSignature,
        Seal,
    }

    /// <summary>The ARC field kind of a header field.</summary>
    internal static ArcField Kind(ReadOnlySpan<byte> message, DkimHeaderField field) =>
        field.Is(message, "ARC-Authentication-Results") ? ArcField.Results
        : field.Is(message, "ARC-Message-Signature") ? ArcField.MessageSignature
        : field.Is(message, "ARC-Seal") ? ArcField.Seal
        : ArcField.None;

    /// <summary>Collects the sets by instance and checks their structure (RFC 8617 §5.2 steps 2–3), as MimeKit does.</summary>
    private static ArcSignatureValidationResult Sets(ReadOnlySpan<byte> message, List<DkimHeaderField> fields, out ArcSet?[] sets, out int count, out ArcValidationErrors errors)
    {
        errors = ArcValidationErrors.None;
        sets = new ArcSet?[MaxInstances];
        count = 0;
        foreach (var field in fields)
        {
            var kind = Kind(message, field);
            if (kind == ArcField.None)
            {
                continue;
            }

            var instance = 0;
            Dictionary<string, string>? tags = null;
            if (kind == ArcField.Results)
            {
                if (!MimeKit.Cryptography.AuthenticationResults.TryParse(message[field.ValueStart..field.Next].ToArray(), out var results)
                    || results.Instance is not { } i || i < 1 || i > MaxInstances)
                {
                    errors |= ArcValidationErrors.InvalidArcAuthenticationResults;
                    continue;
                }

                instance = i;
            }
            else
            {
                var invalid = kind == ArcField.MessageSignature ? ArcValidationErrors.InvalidArcMessageSignature : ArcValidationErrors.InvalidArcSeal;
                tags = ParseTags(DkimHeaderFields.Value(message, field));
                if (tags is null || !tags.TryGetValue("i", out var value)
                    || !int.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out instance) || instance < 1 || instance > MaxInstances)
                {
                    errors |= invalid;
                    continue;
                }
            }

            var set = sets[instance - 1] ??= new ArcSet();
            if (!set.Add(kind, field, tags))
            {
                errors |= kind switch
                {
                    ArcField.Results => ArcValidationErrors.DuplicateArcAuthenticationResults,
                    ArcField.MessageSignature => ArcValidationErrors.DuplicateArcMessageSignature,
                    _ => ArcValidationErrors.DuplicateArcSeal,
                };
            }

            count = Math.Max(count, instance);
        }

        if (count == 0)
        {
            return ArcSignatureValidationResult.None;
        }

        for (var i = 0; i < count; i++)
        {
            var set = sets[i];
            if (set is null)
            {
                errors |= Missing(errors, ArcValidationErrors.InvalidArcAuthenticationResults, ArcValidationErrors.MissingArcAuthenticationResults)
                    | Missing(errors, ArcValidationErrors.InvalidArcMessageSignature, ArcValidationErrors.MissingArcMessageSignature)
                    | Missing(errors, ArcValidationErrors.InvalidArcSeal, ArcValidationErrors.MissingArcSeal);
                continue;
            }

            if (set.Results is null)
            {
                errors |= Missing(errors, ArcValidationErrors.InvalidArcAuthenticationResults, ArcValidationErrors.MissingArcAuthenticationResults);
            }

            if (set.MessageSignature is null)
            {
                errors |= Missing(errors, ArcValidationErrors.InvalidArcMessageSignature, ArcValidationErrors.MissingArcMessageSignature);
            }

            if (set.Seal is null)
            {
                errors |= Missing(errors, ArcValidationErrors.InvalidArcSeal, ArcValidationErrors.MissingArcSeal);
                continue;
            }

            if (!set.SealTags!.TryGetValue("cv", out var cv))
            {
                errors |= ArcValidationErrors.MissingArcSealChainValidationValue;
                continue;
            }

            // §5.2 step 3: cv=none on the first set, cv=pass on every other.
            if (!cv.Equals(i == 0 ? "none" : "pass", StringComparison.Ordinal))
            {
                errors |= ArcValidationErrors.InvalidArcSealChainValidationValue;
            }
        }

        return errors == ArcValidationErrors.None ? ArcSignatureValidationResult.Pass : ArcSignatureValidationResult.Fail;
    }

    /// <summary>A missing field is reported as missing unless one of its kind was already found invalid.</summary>
    private static ArcValidationErrors Missing(ArcValidationErrors errors, ArcValidationErrors invalid, ArcValidationErrors missing) =>
        (errors & invalid) == 0 ? missing : ArcValidationErrors.None;

    /// <summary>
    /// A tag list as MimeKit reads ARC fields: white space removed from values, a tag name starting with a letter, a
    /// repeated tag refused; null when malformed.
    /// </summary>
    internal static Dictionary<string, string>? ParseTags(string text)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        var value = new StringBuilder();
        var index = 0;
        static bool Space(char c) => c is ' ' or '\t' or '\r' or '\n';
        while (index < text.Length)
        {
            while (index < text.Length && Space(text[index]))
            {
                index++;
            }

            if (index >= text.Length)
            {
                break;
            }

            if (!char.IsAsciiLetter(text[index]))
            {
                return null;
            }

            var start = index++;
            while (index < text.Length && text[index] != '=')
            {
                index++;
            }

            if (index >= text.Length)
            {
                continue;
            }

            var name = text.AsSpan(start, index - start).TrimEnd(" \t\r\n").ToString();
            value.Clear();
            index++;
            while (index < text.Length && text[index] != ';')
            {
                if (!Space(text[index]))
                {
                    value.Append(text[index]);
                }

                index++;
            }

            if (!tags.TryAdd(name, value.ToString()))
            {
                return null;
            }

            index++;
        }

        return tags;
    }

    /// <summary>The tags every ARC signature field needs (MimeKit's ValidateCommonParameters); throws FormatException.</summary>
    private static (string Algorithm, string Domain, string Selector, string Methods, string Signature) Common(Dictionary<string, string> tags)
    {
        var algorithm = tags.GetValueOrDefault("a")?.ToLowerInvariant() ?? throw new FormatException("no a=");
        if (algorithm is not ("rsa-sha256" or "ed25519-sha256" or "rsa-sha1"))
        {
            throw new FormatException($"unknown a={algorithm}");
        }

        var domain = tags.GetValueOrDefault("d") is { Length: > 0 } d ? d : throw new FormatException("no d=");
        var selector = tags.GetValueOrDefault("s") is { Length: > 0 } s ? s : throw new FormatException("no s=");
        var signature = tags.GetValueOrDefault("b") is { Length: > 0 } b ? b : throw new FormatException("no b=");
        if (tags.TryGetValue("t", out var t) && (!int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out var timestamp) || timestamp < 0))
        {
            throw new FormatException($"bad t={t}");
        }

        return (algorithm, domain, selector, tags.GetValueOrDefault("q") ?? "dns/txt", signature);
    }

    private static async Task<bool> VerifyMessageSignatureAsync(ReadOnlyMemory<byte> message, List<DkimHeaderField> fields, int bodyStart, ArcSet set,
        IDkimPublicKeyLocator keys, CancellationToken cancellationToken)
    {
        var tags = set.MessageSignatureTags!;
        var (algorithm, domain, selector, methods, signature) = Common(tags);
        long? length = null;
        if (tags.TryGetValue("l", out var l))
        {
            length = int.TryParse(l, NumberStyles.None, CultureInfo.InvariantCulture, out var maxLength) ? maxLength : throw new FormatException($"bad l={l}");
        }

        var (headerRelaxed, bodyRelaxed) = (false, false);
        if (tags.TryGetValue("c", out var c))
        {
            var tokens = c.ToLowerInvariant().Split('/');
            headerRelaxed = tokens.Length <= 2 ? Relaxed(tokens[0], c) : throw new FormatException($"bad c={c}");
            bodyRelaxed = tokens.Length == 2 && Relaxed(tokens[1], c);
        }

        var signed = tags.GetValueOrDefault("h") ?? throw new FormatException("no h=");
        var bodyHash = tags.GetValueOrDefault("bh") ?? throw new FormatException("no bh=");
        if (algorithm == "rsa-sha1")
        {
            // Disabled, as in MimeKit's defaults (RFC 8301).
            return false;
        }

        var hash = new byte[32];
        DkimBodyCanonicalization.Sha256(message.Span[bodyStart..], bodyRelaxed, length, hash);
        if (Convert.ToBase64String(hash) != bodyHash)
        {
            return false;
        }

        var key = await keys.LocatePublicKeyAsync(methods, domain, selector, cancellationToken).ConfigureAwait(false);
        using var data = new ByteBuilder();
        DkimHeaderFields.WriteSignedData(message.Span, fields, signed.Split(':'), set.MessageSignature!.Value, headerRelaxed, data);
        return Verify(key, data.Written, signature);
    }

    private static bool Relaxed(string token, string c) => token switch
    {
        "relaxed" => true,
        "simple" => false,
        _ => throw new FormatException($"bad c={c}"),
    };

    private static async Task<bool> VerifySealAsync(ReadOnlyMemory<byte> message, ArcSet?[] sets, int i, IDkimPublicKeyLocator keys, CancellationToken cancellationToken)
    {
        var tags = sets[i]!.SealTags!;
        var (algorithm, domain, selector, methods, signature) = Common(tags);
        if (tags.ContainsKey("h"))
        {
            throw new FormatException("an ARC-Seal has no h=");
        }

        if (algorithm == "rsa-sha1")
        {
            return false;
        }

        var key = await keys.LocatePublicKeyAsync(methods, domain, selector, cancellationToken).ConfigureAwait(false);
        using var data = new ByteBuilder();
        // §5.1.1: every set up to this one, oldest first, relaxed; this seal last, without its b= value and CRLF.
        for (var j = 0; j <= i; j++)
        {
            var set = sets[j]!;
            DkimHeaderFields.WriteRelaxed(message.Span, set.Results!.Value, null, data, finalLineEnd: true);
            DkimHeaderFields.WriteRelaxed(message.Span, set.MessageSignature!.Value, null, data, finalLineEnd: true);
            if (j < i)
            {
                DkimHeaderFields.WriteRelaxed(message.Span, set.Seal!.Value, null, data, finalLineEnd: true);
            }
        }

        var seal = sets[i]!.Seal!.Value;
        var omit = DkimHeaderFields.SignatureValue(message.Span, seal) ?? throw new FormatException("no b=");
        DkimHeaderFields.WriteRelaxed(message.Span, seal, omit, data, finalLineEnd: false);
        return Verify(key, data.Written, signature);
    }

    /// <summary>The signature over the SHA-256 of <paramref name="data"/> (<see cref="DkimSignatureCheck"/>).</summary>
    private static bool Verify(AsymmetricKeyParameter key, ReadOnlySpan<byte> data, string signatureBase64)
    {
        var signature = Convert.FromBase64String(signatureBase64);
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(data, digest);
        switch (key)
        {
            case RsaKeyParameters rsaKey:
                if (rsaKey.Modulus.BitLength < Dkim.DkimVerifier.MinimumRsaBits)
                {
                    return false;
                }

                var rsa = RsaKeys.GetValue(rsaKey, static k => RSA.Create(new RSAParameters
                {
                    Modulus = k.Modulus.ToByteArrayUnsigned(),
                    Exponent = k.Exponent.ToByteArrayUnsigned(),
                }));
                return DkimSignatureCheck.Verify(rsa, null, digest, signature);
            case Ed25519PublicKeyParameters ed25519Key:
                return DkimSignatureCheck.Verify(null, ed25519Key, digest, signature);
            default:
                return false;
        }
    }
}
