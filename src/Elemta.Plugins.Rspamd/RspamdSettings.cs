using System.Globalization;
using Microsoft.Extensions.Configuration;

namespace Elemta.Plugins.Rspamd;

/// <summary>The plugin's settings, read and checked once from <c>Elemta:Plugins:Items:Rspamd:Settings</c>.</summary>
internal sealed record RspamdSettings(
    Uri CheckUri,
    TimeSpan Timeout,
    IReadOnlyDictionary<string, SpamResponse> Actions,
    double? RejectScore,
    double? HoldScore,
    double? HeaderScore,
    bool ResolveHostname)
{
    private const string Prefix = "Elemta:Plugins:Items:Rspamd:Settings:";

    /// <summary>rspamd's action names (as its reply spells them) by their setting key under <c>Actions</c>, with the default response.</summary>
    private static readonly (string Key, string Action, SpamResponse Default)[] KnownActions =
    [
        ("Reject", "reject", SpamResponse.Reject),
        ("SoftReject", "soft reject", SpamResponse.Defer),
        ("Greylist", "greylist", SpamResponse.Defer),
        ("RewriteSubject", "rewrite subject", SpamResponse.AddHeader),
        ("AddHeader", "add header", SpamResponse.AddHeader),
        ("NoAction", "no action", SpamResponse.Continue),
        ("Discard", "discard", SpamResponse.Drop),
        ("Quarantine", "quarantine", SpamResponse.Hold),
    ];

    /// <summary>Reads the settings; a bad value throws with its key named, which stops the server's start.</summary>
    public static RspamdSettings Read(IConfiguration settings)
    {
        var url = settings["Url"] ?? "http://127.0.0.1:11333";
        if (!Uri.TryCreate(url, UriKind.Absolute, out var baseUri) || baseUri.Scheme is not ("http" or "https") || !string.IsNullOrEmpty(baseUri.Query))
        {
            throw new InvalidOperationException($"{Prefix}Url must be an http:// or https:// address of rspamd's normal worker, e.g. http://127.0.0.1:11333, not '{url}'.");
        }

        var timeout = TimeSpan.FromSeconds(4);
        if (settings["Timeout"] is { } timeoutText
            && (!TimeSpan.TryParse(timeoutText, CultureInfo.InvariantCulture, out timeout) || timeout <= TimeSpan.Zero || timeout > TimeSpan.FromMinutes(5)))
        {
            throw new InvalidOperationException($"{Prefix}Timeout must be a positive time span of at most 00:05:00, e.g. 00:00:04, not '{timeoutText}'.");
        }

        var actions = KnownActions.ToDictionary(a => a.Action, a => a.Default, StringComparer.OrdinalIgnoreCase);
        foreach (var entry in settings.GetSection("Actions").GetChildren())
        {
            var known = KnownActions.FirstOrDefault(a => string.Equals(a.Key, entry.Key, StringComparison.OrdinalIgnoreCase));
            if (known.Key is null)
            {
                throw new InvalidOperationException(
                    $"{Prefix}Actions:{entry.Key} is not an rspamd action; use one of {string.Join(", ", KnownActions.Select(a => a.Key))}.");
            }

            // A name only: Enum.TryParse also takes numbers, which would make a typo such as '5' mean Reject.
            if (string.IsNullOrEmpty(entry.Value) || !char.IsAsciiLetter(entry.Value[0])
                || !Enum.TryParse<SpamResponse>(entry.Value, ignoreCase: true, out var response))
            {
                throw new InvalidOperationException(
                    $"{Prefix}Actions:{entry.Key} must be one of {string.Join(", ", Enum.GetNames<SpamResponse>())}, not '{entry.Value}'.");
            }

            actions[known.Action] = response;
        }

        return new RspamdSettings(
            new Uri(baseUri.GetLeftPart(UriPartial.Path).TrimEnd('/') + "/checkv2"),
            timeout,
            actions,
            Score(settings, "RejectScore"),
            Score(settings, "HoldScore"),
            Score(settings, "HeaderScore"),
            Flag(settings, "ResolveHostname"));
    }

    private static double? Score(IConfiguration settings, string key)
    {
        var text = settings[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return null;
        }

        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var score) && double.IsFinite(score)
            ? score
            : throw new InvalidOperationException($"{Prefix}{key} must be a number (rspamd's score, e.g. 12.5), not '{text}'.");
    }

    private static bool Flag(IConfiguration settings, string key)
    {
        var text = settings[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        return bool.TryParse(text, out var value)
            ? value
            : throw new InvalidOperationException($"{Prefix}{key} must be true or false, not '{text}'.");
    }
}
