using MimeKit;

namespace Elemta.Admin.Live;

/// <summary>
/// A message body as plain text for the detail page: the text part, or else the HTML part's source, shortened. The
/// page writes it as text (Blazor encodes it), so nothing from a message is ever rendered as markup, loaded or run.
/// </summary>
public static class BodyPreview
{
    /// <summary>The most characters shown.</summary>
    public const int MaxCharacters = 16 * 1024;

    /// <summary>The preview of <paramref name="content"/> (RFC 5322), and what kind of part it came from.</summary>
    public static (string Text, string Kind) Create(byte[] content)
    {
        ArgumentNullException.ThrowIfNull(content);
        MimeMessage message;
        try
        {
            using var stream = new MemoryStream(content, writable: false);
            message = MimeMessage.Load(stream);
        }
        catch (FormatException)
        {
            return (Shorten(System.Text.Encoding.UTF8.GetString(content)), "unparsed source");
        }

        using (message)
        {
            if (message.TextBody is { } text)
            {
                return (Shorten(text), "text/plain part");
            }

            if (message.HtmlBody is { } html)
            {
                return (Shorten(html), "text/html part, shown as source (never rendered)");
            }

            return (string.Empty, "no text part");
        }
    }

    private static string Shorten(string text) =>
        text.Length <= MaxCharacters ? text : string.Concat(text.AsSpan(0, MaxCharacters), "\n… (shortened; the whole message is at /api/queue/message/{id}/raw)");
}
