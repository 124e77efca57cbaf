using System.Text;

namespace Elemta.MailAuth.Dkim;

/// <summary>The verdict on one DKIM-Signature header field, in the order the fields appear in the message.</summary>
/// <param name="Kind">The result.</param>
/// <param name="Domain">The signing domain (<c>d=</c>), or null when the field has none.</param>
/// <param name="Selector">The selector (<c>s=</c>), or null.</param>
/// <param name="Algorithm">The algorithm (<c>a=</c>) as written, e.g. <c>rsa-sha256</c>, <c>ed25519-sha256</c>, or null.</param>
/// <param name="Reason">Why, in a few words (empty for a plain pass); for logs and the Authentication-Results comment.</param>
/// <param name="HeaderB">
/// The first 8 characters of the signature (<c>b=</c>), the <c>header.b</c> property of RFC 6008 that tells apart
/// several signatures of one domain; null when the field has no <c>b=</c>.
/// </param>
public sealed record DkimResult(DkimResultKind Kind, string? Domain, string? Selector, string? Algorithm, string Reason, string? HeaderB)
{
    /// <summary>The result keyword of RFC 8601: <c>pass</c>, <c>fail</c>, <c>neutral</c>, <c>temperror</c>, <c>permerror</c>, <c>policy</c>.</summary>
    public string Keyword => Kind.ToString().ToLowerInvariant();

    /// <summary>
    /// The <c>dkim=</c> resinfo of an Authentication-Results field (RFC 8601 §2.2, §2.7.1):
    /// <c>dkim=pass (reason) header.d=example.org header.s=sel header.a=rsa-sha256 header.b=AbCdEfGh</c>.
    /// Values that are not RFC 2045 tokens are quoted.
    /// </summary>
    public string ToAuthenticationResults()
    {
        var text = new StringBuilder("dkim=").Append(Keyword);
        if (Reason.Length > 0)
        {
            // A comment may not hold unbalanced parentheses or backslashes (RFC 5322 §3.2.2): keep the reason readable.
            text.Append(" (").Append(Reason.Replace('(', '[').Replace(')', ']').Replace('\\', '/')).Append(')');
        }

        Property(text, "header.d", Domain);
        Property(text, "header.s", Selector);
        Property(text, "header.a", Algorithm);
        Property(text, "header.b", HeaderB);
        return text.ToString();
    }

    private static void Property(StringBuilder text, string name, string? value)
    {
        if (string.IsNullOrEmpty(value))
        {
            return;
        }

        text.Append(' ').Append(name).Append('=');
        if (value.All(c => c > ' ' && c < 127 && !"()<>@,;:\\\"/[]?=".Contains(c, StringComparison.Ordinal)))
        {
            text.Append(value);
        }
        else
        {
            text.Append('"').Append(value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)).Append('"');
        }
    }
}
