using Elemta.Contracts;
using MailKit.Net.Smtp;
using MimeKit;

namespace Elemta.Delivery.Smtp;

/// <summary>
/// MailKit's client, with two changes for relaying: a rejected recipient is recorded instead of aborting the
/// whole transaction, and content is sent as received.
/// </summary>
internal sealed class RecordingSmtpClient : SmtpClient
{
    /// <summary>
    /// The RCPT rejections of the current transaction, keyed by address. A pooled client carries several
    /// transactions, so the agent clears this before each one.
    /// </summary>
    public Dictionary<string, RecipientResult> Rejected { get; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>
    /// Whether a RCPT of the current transaction got <c>421</c>: the server is closing the session (RFC 5321 §3.8),
    /// whatever it thinks of the recipient.
    /// </summary>
    public bool ServiceClosing { get; private set; }

    /// <summary>Forgets what the previous transaction on this session recorded.</summary>
    public void BeginTransaction()
    {
        Rejected.Clear();
        ServiceClosing = false;
    }

    /// <summary>
    /// A relay must not change the content it forwards (RFC 5321 §2.3.10 allows trace fields only), and a
    /// rewritten header breaks the DKIM signatures covering it. MimeKit's preparation adds headers and
    /// re-encodes parts, so it runs only when the destination lacks 8BITMIME, where 8-bit content must be
    /// converted rather than sent raw (RFC 6152 §3).
    /// </summary>
    protected override void Prepare(FormatOptions options, MimeMessage message, EncodingConstraint constraint, int maxLineLength)
    {
        if (constraint == EncodingConstraint.SevenBit)
        {
            base.Prepare(options, message, constraint, maxLineLength);
        }
    }

    /// <inheritdoc />
    protected override void OnRecipientNotAccepted(MimeMessage message, MailboxAddress mailbox, SmtpResponse response)
    {
        var code = (int)response.StatusCode;
        ServiceClosing |= response.StatusCode == SmtpStatusCode.ServiceNotAvailable;
        Rejected[mailbox.Address] = new RecipientResult(
            mailbox.Address,
            code >= 500 ? RecipientOutcome.Permanent : RecipientOutcome.Transient,
            SmtpDeliveryAgent.FormatReply(code, response.Response),
            code >= 500 ? DeliveryError.PermanentReply : DeliveryError.TemporaryReply);
    }
}
