namespace Elemta.Testing;

/// <summary>
/// A message received by <see cref="SmtpSink"/>: the SMTP envelope plus the content bytes.
/// </summary>
/// <param name="HeloName">The argument of the most recent EHLO or HELO command on the connection.</param>
/// <param name="MailFrom">The reverse-path of MAIL FROM without angle brackets; empty for the null sender <c>&lt;&gt;</c>.</param>
/// <param name="Recipients">The forward-paths of the accepted RCPT TO commands, in order, without angle brackets.</param>
/// <param name="Data">
/// The message exactly as transmitted after dot-unstuffing (RFC 5321 section 4.5.2), without the
/// terminating <c>.&lt;CRLF&gt;</c> line; it ends with the CRLF of the last content line.
/// </param>
/// <param name="ReceivedAt">When the end-of-data marker was received.</param>
public sealed record SinkMessage(
    string HeloName,
    string MailFrom,
    IReadOnlyList<string> Recipients,
    byte[] Data,
    DateTimeOffset ReceivedAt)
{
    /// <summary>The TLS protocol of the session after STARTTLS, or <see langword="null"/> when it arrived in plaintext.</summary>
    public System.Security.Authentication.SslProtocols? TlsProtocol { get; init; }

    /// <summary>The user name the client authenticated as with AUTH, or <see langword="null"/> without AUTH.</summary>
    public string? AuthenticatedAs { get; init; }

    /// <summary>Returns a short description (envelope and size) for assertion and timeout messages.</summary>
    public override string ToString() =>
        $"MAIL FROM:<{MailFrom}> RCPT TO:[{string.Join(", ", Recipients)}] ({Data.Length} bytes, HELO {HeloName})";
}
