namespace Elemta.MailAuth.Dkim;

/// <summary>
/// A DKIM tag-list (RFC 6376 §3.2), as both the DKIM-Signature field and the key record use it: <c>tag=value</c>
/// pairs separated by <c>;</c>, whitespace (including folding) allowed around tags, values and separators.
/// </summary>
internal sealed class DkimTagList
{
    private readonly Dictionary<string, string> _tags;

    private DkimTagList(Dictionary<string, string> tags) => _tags = tags;

    /// <summary>The tag names in order of appearance (the key record's <c>v=</c> must come first).</summary>
    public IReadOnlyList<string> Order { get; private init; } = [];

    /// <summary>The value of <paramref name="tag"/> (whitespace kept inside it), or null when absent. Tag names are case-sensitive.</summary>
    public string? this[string tag] => _tags.TryGetValue(tag, out var value) ? value : null;

    /// <summary>Parses <paramref name="text"/>; null with <paramref name="error"/> set when it is not a tag-list or repeats a tag.</summary>
    public static DkimTagList? Parse(string text, out string? error)
    {
        var tags = new Dictionary<string, string>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var spec in text.Split(';'))
        {
            if (spec.AsSpan().Trim(" \t\r\n").IsEmpty)
            {
                // "A tag-list ... MAY end with a semicolon" — and an empty spec is harmless.
                continue;
            }

            var equals = spec.IndexOf('=', StringComparison.Ordinal);
            if (equals < 0)
            {
                error = $"'{spec.Trim()}' is not tag=value";
                return null;
            }

            var name = spec[..equals].Trim(" \t\r\n".ToCharArray());
            if (name.Length == 0 || !char.IsAsciiLetter(name[0]) || !name.All(c => char.IsAsciiLetterOrDigit(c) || c == '_'))
            {
                error = $"'{name}' is not a tag name";
                return null;
            }

            var value = spec[(equals + 1)..].Trim(" \t\r\n".ToCharArray());
            if (!tags.TryAdd(name, value))
            {
                // RFC 6376 §3.2: "Tags with duplicate names MUST NOT occur within a single tag-list".
                error = $"tag {name}= appears twice";
                return null;
            }

            order.Add(name);
        }

        error = null;
        return new DkimTagList(tags) { Order = order };
    }

    /// <summary>A value with all whitespace (folding included) removed, as base64 values (b=, bh=, p=) are compared.</summary>
    public static string Compact(string value) => string.Concat(value.Where(c => c is not (' ' or '\t' or '\r' or '\n')));
}
