using System.Text;

namespace Elemta.Delivery.Local;

/// <summary>
/// A Maildir path template such as <c>/var/mail/{domain}/{user}/Maildir</c>. The part before the first placeholder is
/// the root: names that come from the envelope are sanitised so that the resolved path never leaves it.
/// </summary>
internal sealed class MaildirPathTemplate
{
    private const string DomainPlaceholder = "{domain}";
    private const string UserPlaceholder = "{user}";

    private readonly string _template;

    private MaildirPathTemplate(string template, string root)
    {
        _template = template;
        Root = root;
    }

    /// <summary>The fixed directory every mailbox of this template lies under.</summary>
    public string Root { get; }

    /// <summary>Parses a template; false with a reason (to follow the key name in a message) when it cannot be used safely.</summary>
    public static bool TryParse(string? template, out MaildirPathTemplate? parsed, out string? error)
    {
        parsed = null;
        error = null;
        if (string.IsNullOrWhiteSpace(template))
        {
            error = "is empty";
            return false;
        }

        if (!Path.IsPathFullyQualified(template))
        {
            error = $"must be an absolute path (is '{template}')";
            return false;
        }

        if (!template.Contains(UserPlaceholder, StringComparison.Ordinal))
        {
            error = $"must contain {UserPlaceholder}, or every recipient would share one mailbox (is '{template}')";
            return false;
        }

        var withoutPlaceholders = template.Replace(DomainPlaceholder, string.Empty, StringComparison.Ordinal).Replace(UserPlaceholder, string.Empty, StringComparison.Ordinal);
        if (withoutPlaceholders.Contains('{', StringComparison.Ordinal) || withoutPlaceholders.Contains('}', StringComparison.Ordinal))
        {
            error = $"may contain only the placeholders {DomainPlaceholder} and {UserPlaceholder} (is '{template}')";
            return false;
        }

        if (template.Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar).Any(segment => segment is "." or ".."))
        {
            error = $"must not contain '.' or '..' segments (is '{template}')";
            return false;
        }

        // The root is the deepest directory written out in full before the first placeholder.
        var firstPlaceholder = template.IndexOf('{', StringComparison.Ordinal);
        var lastSeparator = template.LastIndexOfAny([Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar], firstPlaceholder);
        var root = Path.TrimEndingDirectorySeparator(Path.GetFullPath(template[..(lastSeparator + 1)]));
        parsed = new MaildirPathTemplate(template, root);
        return true;
    }

    /// <summary>
    /// The Maildir of <paramref name="user"/> in <paramref name="domain"/>, or null with a reason when either name
    /// could not be a single directory name under the root.
    /// </summary>
    public string? Resolve(string domain, string user, out string? error)
    {
        if (!IsSafeName(domain, out error) || !IsSafeName(user, out error))
        {
            return null;
        }

        // One pass, so that a name containing "{user}" is not expanded again.
        var path = new StringBuilder(_template.Length + domain.Length + user.Length);
        for (var i = 0; i < _template.Length;)
        {
            if (string.CompareOrdinal(_template, i, DomainPlaceholder, 0, DomainPlaceholder.Length) == 0)
            {
                path.Append(domain);
                i += DomainPlaceholder.Length;
            }
            else if (string.CompareOrdinal(_template, i, UserPlaceholder, 0, UserPlaceholder.Length) == 0)
            {
                path.Append(user);
                i += UserPlaceholder.Length;
            }
            else
            {
                path.Append(_template[i++]);
            }
        }

        // Belt and braces: the names cannot climb out, but the check is cheap and is the actual guarantee.
        var full = Path.GetFullPath(path.ToString());
        var prefix = Path.EndsInDirectorySeparator(Root) ? Root : Root + Path.DirectorySeparatorChar;
        if (!full.StartsWith(prefix, StringComparison.Ordinal))
        {
            error = "resolves outside the mail root";
            return null;
        }

        return full;
    }

    /// <summary>
    /// A name from the envelope may become one directory name: not empty, not hidden or <c>..</c>, no separators,
    /// no NUL or control characters, at most 255 octets.
    /// </summary>
    private static bool IsSafeName(string name, out string? error)
    {
        error = null;
        if (name.Length == 0)
        {
            error = "is empty";
        }
        else if (name[0] == '.')
        {
            error = "starts with '.'";
        }
        else if (name.Any(c => c is '/' or '\\' || char.IsControl(c)))
        {
            error = "contains a path separator or a control character";
        }
        else if (Encoding.UTF8.GetByteCount(name) > 255)
        {
            error = "is longer than 255 octets";
        }

        return error is null;
    }
}
