namespace Elemta.Api.Messages;

/// <summary>
/// Limits of <c>POST /api/messages</c>. Not a configuration section of its own: the host sets them from the SMTP
/// front-end's (<c>Elemta:Smtp:MaxMessageSize</c>), so a message too large for SMTP is too large here as well.
/// </summary>
public sealed class MessageSubmissionOptions
{
    /// <summary>The largest message accepted, in octets after line ends are made CRLF; larger ones get 413.</summary>
    public long MaxMessageSize { get; set; } = 25 * 1024 * 1024;
}
