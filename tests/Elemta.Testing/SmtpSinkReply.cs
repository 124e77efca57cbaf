namespace Elemta.Testing;

/// <summary>
/// A scripted SMTP reply sent by <see cref="SmtpSink"/>.
/// </summary>
/// <param name="Code">The three-digit reply code (200–599), e.g. <c>550</c>.</param>
/// <param name="Text">
/// The reply text after the code, conventionally starting with an enhanced status code
/// (RFC 3463), e.g. <c>"5.1.1 No such user"</c>. Text containing line breaks is sent as a
/// multi-line reply (RFC 5321 section 4.2.1).
/// </param>
public sealed record SmtpSinkReply(int Code, string Text)
{
    /// <summary>Whether <see cref="Code"/> is a positive completion reply (2xx).</summary>
    public bool IsPositive => Code is >= 200 and < 300;
}
