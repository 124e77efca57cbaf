using Elemta.MailAuth.Dkim;
using MimeKit;
using MimeKit.Cryptography;

namespace Elemta.MailAuth.Arc;

/// <summary>The chain validation status of RFC 8617 §4.4: none, pass or fail.</summary>
public enum ArcChainStatus
{
    /// <summary>The message carries no ARC set.</summary>
    None,

    /// <summary>Every ARC-Seal and the newest ARC-Message-Signature verified.</summary>
    Pass,

    /// <summary>The chain is broken, malformed or does not verify.</summary>
    Fail,
}

/// <summary>The outcome of ARC validation (RFC 8617 §5.2).</summary>
/// <param name="Status">none, pass or fail — the value of the <c>arc=</c> Authentication-Results method and of the next <c>cv=</c>.</param>
/// <param name="Instances">How many ARC sets the message carries (the highest <c>i=</c>).</param>
/// <param name="Errors">MimeKit's structural and signature findings.</param>
/// <param name="KeyLookupTemporaryFailure">True when a key lookup hit a temporary DNS error, so a fail may be transient.</param>
public sealed record ArcValidation(ArcChainStatus Status, int Instances, ArcValidationErrors Errors, bool KeyLookupTemporaryFailure)
{
    /// <summary><c>none</c>, <c>pass</c> or <c>fail</c>.</summary>
    public string Name => Status switch
    {
        ArcChainStatus.Pass => "pass",
        ArcChainStatus.Fail => "fail",
        _ => "none",
    };

    /// <summary>The <c>arc</c> method of an RFC 8601 Authentication-Results header field (RFC 8617 §7.1).</summary>
    public string ToAuthenticationResults() => Errors == ArcValidationErrors.None
        ? $"arc={Name}"
        : $"arc={Name} ({Errors})";
}

/// <summary>
/// Validates the Authenticated Received Chain of a message (RFC 8617 §5.2) as MimeKit's <see cref="ArcVerifier"/> does,
/// with the signatures checked by .NET's RSA (<see cref="ArcChainVerifier"/>): complete, contiguous sets <c>i=1..N</c> (N ≤ 50), <c>cv=none</c> on the first seal and <c>cv=pass</c> on the
/// others, the newest ARC-Message-Signature and every ARC-Seal verified with keys from DNS. RSA keys shorter than
/// 1024 bits and rsa-sha1 fail (RFC 8301, as MimeKit's defaults).
/// </summary>
public sealed class ArcValidator
{
    private readonly IDkimPublicKeyLocator _keys;

    /// <summary>Creates the validator.</summary>
    /// <param name="keys">Where public keys come from: <see cref="ArcKeyLocator"/> over DNS, or another locator.</param>
    public ArcValidator(IDkimPublicKeyLocator keys)
    {
        ArgumentNullException.ThrowIfNull(keys);
        _keys = keys;
    }

    /// <summary>Validates the message's chain.</summary>
    /// <param name="message">The message as received.</param>
    /// <param name="cancellationToken">Stops the key lookups.</param>
    public async Task<ArcValidation> ValidateAsync(MimeMessage message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        // The chain is checked over bytes; MimeKit writes a parsed message back as it read it (CRLF line ends).
        var options = FormatOptions.Default.Clone();
        options.NewLineFormat = NewLineFormat.Dos;
        using var bytes = new MemoryStream();
        await message.WriteToAsync(options, bytes, cancellationToken).ConfigureAwait(false);
        return await ValidateAsync(bytes.GetBuffer().AsMemory(0, (int)bytes.Length), cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Validates the chain of a message as stored (header, blank line, body).</summary>
    /// <param name="message">The message as received.</param>
    /// <param name="cancellationToken">Stops the key lookups.</param>
    public async Task<ArcValidation> ValidateAsync(ReadOnlyMemory<byte> message, CancellationToken cancellationToken)
    {
        // A per-call view of the locator notes temporary key-lookup failures of this message only, even when the
        // locator is shared by concurrent validations.
        var keys = new NotingLocator(_keys);
        var (chain, errors) = await ArcChainVerifier.VerifyAsync(message, keys, cancellationToken).ConfigureAwait(false);
        // Every exception of a key lookup counts as a failed signature, as in MimeKit, including cancellation.
        cancellationToken.ThrowIfCancellationRequested();

        var fields = DkimHeaderFields.Parse(message.Span, out _);
        var instances = 0;
        var newest = 0;
        string? newestSigned = null;
        foreach (var field in fields)
        {
            var kind = ArcChainVerifier.Kind(message.Span, field);
            if (kind is ArcChainVerifier.ArcField.Seal or ArcChainVerifier.ArcField.MessageSignature)
            {
                var tags = Tags(DkimHeaderFields.Value(message.Span, field));
                var instance = Instance(tags);
                if (kind == ArcChainVerifier.ArcField.Seal)
                {
                    instances = Math.Max(instances, instance);
                }
                else if (instance > newest)
                {
                    newest = instance;
                    newestSigned = tags.GetValueOrDefault("h");
                }
            }
        }

        var status = chain switch
        {
            ArcSignatureValidationResult.Pass => ArcChainStatus.Pass,
            ArcSignatureValidationResult.Fail => ArcChainStatus.Fail,
            _ => ArcChainStatus.None,
        };
        if (status == ArcChainStatus.Pass && newestSigned is not null
            && newestSigned.Split(':').Any(h => h.Trim().Equals("arc-seal", StringComparison.OrdinalIgnoreCase)))
        {
            // RFC 8617 §4.1.2: ARC header fields MUST NOT be in the AMS's h=. A signed ARC-Seal is refused, as the
            // suite (ams_fields_h_includes_as) and dkimpy do; a signed ARC-Authentication-Results is accepted, because
            // draft-era signers (and the suite's messages) include it and the seal protects it anyway.
            status = ArcChainStatus.Fail;
            errors |= ArcValidationErrors.InvalidArcMessageSignature;
        }

        return new ArcValidation(status, instances, errors, keys.SawTemporaryFailure && status == ArcChainStatus.Fail);
    }

    /// <summary>A tag=value list (first value of a repeated tag); malformed parts are skipped, MimeKit judges them.</summary>
    private static Dictionary<string, string> Tags(string value) => value.Split(';')
        .Select(t => t.Split('=', 2))
        .Where(t => t.Length == 2)
        .GroupBy(t => t[0].Trim(), StringComparer.Ordinal)
        .ToDictionary(g => g.Key, g => g.First()[1], StringComparer.Ordinal);

    /// <summary>Passes lookups through and remembers whether one failed temporarily (<see cref="ArcKeyException.Temporary"/>).</summary>
    private sealed class NotingLocator(IDkimPublicKeyLocator inner) : IDkimPublicKeyLocator
    {
        private volatile bool _sawTemporaryFailure;

        public bool SawTemporaryFailure => _sawTemporaryFailure;

        public Org.BouncyCastle.Crypto.AsymmetricKeyParameter LocatePublicKey(string methods, string domain, string selector,
            CancellationToken cancellationToken = default)
        {
            try
            {
                return inner.LocatePublicKey(methods, domain, selector, cancellationToken);
            }
            catch (ArcKeyException ex) when (ex.Temporary)
            {
                _sawTemporaryFailure = true;
                throw;
            }
        }

        public async Task<Org.BouncyCastle.Crypto.AsymmetricKeyParameter> LocatePublicKeyAsync(string methods, string domain, string selector,
            CancellationToken cancellationToken = default)
        {
            try
            {
                return await inner.LocatePublicKeyAsync(methods, domain, selector, cancellationToken).ConfigureAwait(false);
            }
            catch (ArcKeyException ex) when (ex.Temporary)
            {
                _sawTemporaryFailure = true;
                throw;
            }
        }
    }

    /// <summary>The i= tag, or 0 when missing or not a number.</summary>
    private static int Instance(Dictionary<string, string> tags) =>
        tags.TryGetValue("i", out var i) && int.TryParse(i.Trim(), System.Globalization.NumberStyles.None,
            System.Globalization.CultureInfo.InvariantCulture, out var instance) ? instance : 0;
}
