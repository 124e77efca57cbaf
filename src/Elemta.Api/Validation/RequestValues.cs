using System.Diagnostics.CodeAnalysis;
using Elemta.Contracts;

namespace Elemta.Api.Validation;

/// <summary>
/// Reads the values the API takes in paths and bodies. Each returns false for text it cannot take, and the endpoint
/// answers with the matching problem; nothing unchecked reaches a grain key or a query.
/// </summary>
internal static class RequestValues
{
    /// <summary>A queue id: 32 lower-case hex digits (<see cref="MessageIds.New"/>).</summary>
    public static bool IsMessageId([NotNullWhen(true)] string? id) =>
        id is { Length: 32 } && id.All(char.IsAsciiHexDigitLower);

    /// <summary>An API key id: 12 lower-case hex digits.</summary>
    public static bool IsApiKeyId([NotNullWhen(true)] string? id) =>
        id is { Length: 12 } && id.All(char.IsAsciiHexDigitLower);

    /// <summary>
    /// A queue state as the API names it: <c>active</c>, <c>deferred</c>, <c>hold</c> (or <c>held</c>), <c>failed</c>,
    /// <c>delivered</c>.
    /// </summary>
    public static bool TryState(string? text, out MessageQueueState state)
    {
        (var known, state) = text?.ToLowerInvariant() switch
        {
            "active" => (true, MessageQueueState.Active),
            "deferred" => (true, MessageQueueState.Deferred),
            "hold" or "held" => (true, MessageQueueState.Held),
            "failed" => (true, MessageQueueState.Failed),
            "delivered" => (true, MessageQueueState.Delivered),
            _ => (false, default),
        };
        return known;
    }

    /// <summary>The path name of a state (the inverse of <see cref="TryState"/>).</summary>
    public static string StateName(MessageQueueState state) => state == MessageQueueState.Held ? "hold" : state.ToString().ToLowerInvariant();

    /// <summary>A priority by name: <c>critical</c>, <c>high</c>, <c>normal</c>, <c>low</c>, <c>bulk</c>.</summary>
    public static bool TryPriority(string? text, out MessagePriority priority)
    {
        priority = default;
        return !string.IsNullOrEmpty(text) && char.IsAsciiLetter(text[0])
            && Enum.TryParse(text, ignoreCase: true, out priority) && Enum.IsDefined(priority);
    }

    /// <summary>
    /// A recipient domain in lower case: dot-separated labels of letters, digits and hyphens (at most 253 characters),
    /// or an address literal in brackets. Internationalised names come as A-labels (<c>xn--</c>).
    /// </summary>
    public static bool TryDomain(string? text, [NotNullWhen(true)] out string? domain)
    {
        domain = null;
        var candidate = text?.Trim().TrimEnd('.').ToLowerInvariant();
        if (string.IsNullOrEmpty(candidate) || candidate.Length > 253)
        {
            return false;
        }

        if (candidate[0] == '[')
        {
            var literal = candidate.Length > 2 && candidate[^1] == ']' && candidate[1..^1].All(c => char.IsAsciiHexDigit(c) || c is '.' or ':' || char.IsAsciiLetter(c));
            domain = literal ? candidate : null;
            return literal;
        }

        foreach (var label in candidate.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
            {
                return false;
            }
        }

        domain = candidate;
        return true;
    }

    /// <summary>
    /// An envelope address to filter by: <c>local@domain</c>, at most 320 characters (RFC 5321's 64 + 1 + 255), no
    /// spaces or control characters. Anything else could match no recipient and is a mistake worth reporting.
    /// </summary>
    public static bool IsAddress([NotNullWhen(true)] string? text)
    {
        if (string.IsNullOrEmpty(text) || text.Length > 320 || text.Any(c => char.IsControl(c) || char.IsWhiteSpace(c)))
        {
            return false;
        }

        var at = text.LastIndexOf('@');
        return at > 0 && at < text.Length - 1;
    }

    /// <summary>A page size: absent means <paramref name="fallback"/>; otherwise 1 to <paramref name="max"/>.</summary>
    public static bool TryLimit(int? limit, int fallback, int max, out int value)
    {
        value = limit ?? fallback;
        return value >= 1 && value <= max;
    }
}
