using Microsoft.Extensions.Options;

namespace Elemta.MailAuth.Dkim;

/// <summary>
/// Checks <c>Elemta:Dkim</c> at start: each signing domain's selector and key file (read and checked here, so a
/// missing, unreadable or wrong-type key stops the start with one line naming its key), the header lists, and the
/// verification settings.
/// </summary>
public sealed class DkimOptionsValidator : IValidateOptions<DkimOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, DkimOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        foreach (var (domain, entry) in options.Signing)
        {
            var path = $"{DkimOptions.SectionName}:Signing:{domain}";
            if (!IsDomain(domain))
            {
                failures.Add($"{path}: '{domain}' is not a domain name.");
            }

            if (string.IsNullOrWhiteSpace(entry.Selector))
            {
                failures.Add($"{path}:Selector is missing.");
            }
            else if (!IsDomain(entry.Selector))
            {
                failures.Add($"{path}:Selector = '{entry.Selector}' is not a DNS label sequence (letters, digits, hyphens, dots).");
            }

            if (string.IsNullOrWhiteSpace(entry.KeyFile))
            {
                failures.Add($"{path}:KeyFile is missing.");
                continue;
            }

            try
            {
                DkimPrivateKey.Load(entry.KeyFile);
            }
            catch (DkimKeyFileException ex)
            {
                failures.Add($"{path}:KeyFile: {ex.Message}.");
            }
        }

        var headers = options.EffectiveHeaders().Concat(options.EffectiveOverSignedHeaders()).ToList();
        if (!options.EffectiveHeaders().Contains("From", StringComparer.OrdinalIgnoreCase))
        {
            failures.Add($"{DkimOptions.SectionName}:Headers must include From (RFC 6376 §5.4).");
        }

        foreach (var header in headers.Where(h => DkimSigner.Unsignable.Contains(h) || h.Length == 0 || h.Any(c => c <= ' ' || c == ':' || c > '~')).Distinct())
        {
            failures.Add($"{DkimOptions.SectionName}:Headers: '{header}' cannot be signed ({(header.Length == 0 || header.Any(c => c <= ' ' || c == ':' || c > '~') ? "not a field name" : "relays add or change it")}).");
        }

        failures.AddRange(VerificationProblems(options.Verification, $"{DkimOptions.SectionName}:Verification"));
        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>What is wrong with the verification settings, one line each.</summary>
    internal static IEnumerable<string> VerificationProblems(DkimVerificationOptions options, string path)
    {
        foreach (var server in options.Servers)
        {
            if (DnsDkimKeyLocator.ParseServer(server) is null)
            {
                yield return $"{path}:Servers: '{server}' is not an address or address:port (127.0.0.1:53, [::1]:53).";
            }
        }

        if (options.Timeout <= TimeSpan.Zero)
        {
            yield return $"{path}:Timeout = {options.Timeout} must be positive.";
        }

        if (options.Retries < 0)
        {
            yield return $"{path}:Retries = {options.Retries} must be 0 or more.";
        }

        if (!Enum.IsDefined(options.UnsignedBodyContent))
        {
            yield return $"{path}:UnsignedBodyContent must be Neutral, Policy or Fail.";
        }

        if (options.KeyCacheSize < 0)
        {
            yield return $"{path}:KeyCacheSize = {options.KeyCacheSize} must be 0 or more.";
        }

        if (options.MaxKeyCacheTime < TimeSpan.Zero)
        {
            yield return $"{path}:MaxKeyCacheTime = {options.MaxKeyCacheTime} must not be negative.";
        }

        if (options.ClockSkew < TimeSpan.Zero)
        {
            yield return $"{path}:ClockSkew = {options.ClockSkew} must not be negative.";
        }
    }

    private static bool IsDomain(string name) =>
        name.TrimEnd('.').Split('.').All(label => label.Length is > 0 and <= 63
            && label.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_')
            && label[0] != '-' && label[^1] != '-');
}
