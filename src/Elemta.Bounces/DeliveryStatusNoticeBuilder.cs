using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Elemta.Contracts;
using MimeKit;
using MimeKit.Utils;

namespace Elemta.Bounces;

/// <summary>
/// Builds delivery status notifications (RFC 3464) as new messages: <c>multipart/report;
/// report-type=delivery-status</c> (RFC 6522) with a text for people, the <c>message/delivery-status</c> fields for
/// programs, and the original message or its header, from the null sender to the original sender.
/// </summary>
public sealed class DeliveryStatusNoticeBuilder
{
    private static readonly FormatOptions Format = CreateFormat();

    private readonly BounceOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly string _host;

    /// <summary>Creates a builder with validated <paramref name="options"/>.</summary>
    /// <exception cref="ArgumentException">The options are not valid.</exception>
    public DeliveryStatusNoticeBuilder(BounceOptions options, TimeProvider timeProvider)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        var errors = options.Validate();
        if (errors.Count > 0)
        {
            throw new ArgumentException(string.Join(" ", errors), nameof(options));
        }

        _options = options;
        _timeProvider = timeProvider;
        _host = options.EffectiveHostName;
    }

    /// <summary>
    /// Builds one notice covering every recipient in <paramref name="request"/>. Which recipients are due is the
    /// caller's decision (<see cref="NotificationPolicy"/>); this refuses only what would break the rules outright.
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The original has the null sender, there are no recipients, a recipient's action is not of the request's kind, or
    /// a given status is not <c>x.y.z</c>.
    /// </exception>
    public DeliveryStatusNotice Build(NoticeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        Check(request);

        var now = _timeProvider.GetUtcNow();
        var original = ReturnedOriginal.From(request.OriginalContent.Span);
        var returnWhole = ReturnsWholeMessage(request);

        var report = new MultipartReport("delivery-status")
        {
            HumanReadableText(request, returnWhole),
            DeliveryStatus(request),
            Returned(original, returnWhole),
        };

        var notice = new MimeMessage();
        notice.From.Add(new MailboxAddress("Mail Delivery System", $"MAILER-DAEMON@{_host}"));
        var to = new Header(HeaderId.To, "");
        to.SetRawValue(Encoding.UTF8.GetBytes($" <{SafeAddress(request.Original.Sender)}>\r\n"));
        notice.Headers.Add(to);
        notice.Subject = SubjectOf(request.Kind);
        notice.Date = now;
        notice.MessageId = $"{SafeIdLeft(request.NoticeMessageId)}@{_host}";
        notice.Headers.Add("Auto-Submitted", "auto-replied");
        notice.Body = report;

        using var stream = new MemoryStream();
        notice.WriteTo(Format, stream);
        var content = stream.ToArray();

        var envelope = new MessageEnvelope(
            MessageId: request.NoticeMessageId,
            Sender: "",
            Recipients: [request.Original.Sender],
            ReceivedAt: now,
            ClientAddress: "127.0.0.1",
            HeloName: _host,
            Size: content.Length,
            Priority: Contracts.MessagePriority.High,
            // A message that had to travel over verified TLS must not come back, whole or in part, in clear (RFC 8689 §5).
            RequireTls: request.Original.RequireTls,
            Dsn: null);
        return new DeliveryStatusNotice(envelope, content);
    }

    private static void Check(NoticeRequest request)
    {
        ArgumentNullException.ThrowIfNull(request.Original);
        ArgumentException.ThrowIfNullOrWhiteSpace(request.NoticeMessageId, nameof(request));
        if (request.Original.Sender.Length == 0)
        {
            throw new ArgumentException("No notice is ever sent about a message from the null sender (RFC 3461 §4.1; it would loop).", nameof(request));
        }

        if (request.Recipients.IsDefaultOrEmpty)
        {
            throw new ArgumentException("A notice reports at least one recipient.", nameof(request));
        }

        foreach (var recipient in request.Recipients)
        {
            if (NotificationPolicy.KindOf(recipient.Action) != request.Kind)
            {
                throw new ArgumentException($"Recipient {recipient.Address} has action {recipient.Action}, which does not belong in a {request.Kind} notice.", nameof(request));
            }

            if (recipient.Status is { } status && !DsnFields.IsStatus(status))
            {
                throw new ArgumentException($"Status '{status}' of {recipient.Address} is not a status code such as 5.1.1 (RFC 3463).", nameof(request));
            }
        }
    }

    /// <summary>
    /// RET decides for failures (RFC 3461 §4.3); without RET the whole message goes back unless it is larger than
    /// <see cref="BounceOptions.MaxReturnedSize"/>. Delay and success notices carry the header only, as Postfix does:
    /// the sender still has its message, and RET speaks of failed DSNs.
    /// </summary>
    private bool ReturnsWholeMessage(NoticeRequest request)
    {
        if (request.Kind != NoticeKind.Failure)
        {
            return false;
        }

        return request.Original.Dsn?.Return?.ToUpperInvariant() switch
        {
            "FULL" => true,
            "HDRS" => false,
            _ => request.OriginalContent.Length <= _options.MaxReturnedSize,
        };
    }

    private static string SubjectOf(NoticeKind kind) => kind switch
    {
        NoticeKind.Failure => "Undelivered Mail Returned to Sender",
        NoticeKind.Delay => "Delayed Mail (still being retried)",
        _ => "Successful Mail Delivery Report",
    };

    private TextPart HumanReadableText(NoticeRequest request, bool returnWhole)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"This is the mail system at host {_host}.\r\n\r\n");
        switch (request.Kind)
        {
            case NoticeKind.Failure:
                text.Append("Your message could not be delivered to one or more recipients,\r\n");
                text.Append("and no further attempts will be made. The reason for each is\r\n");
                text.Append("given below. ");
                text.Append(returnWhole ? "Your message is attached.\r\n" : "The header of your message is attached.\r\n");
                break;
            case NoticeKind.Delay:
                text.Append("Your message has not yet been delivered to one or more recipients.\r\n");
                text.Append("It stays in the queue and will be retried; you do not need to send\r\n");
                text.Append("it again. The reason for each delay is given below. The header of\r\n");
                text.Append("your message is attached.\r\n");
                break;
            default:
                text.Append("Your message was delivered to the recipients below, or handed on to\r\n");
                text.Append("a mail system that does not send delivery notices. The header of\r\n");
                text.Append("your message is attached.\r\n");
                break;
        }

        text.Append(CultureInfo.InvariantCulture, $"\r\nFor help, write to postmaster@{_host} and include this report.\r\n\r\n");
        text.Append("                   The mail system\r\n");
        foreach (var recipient in request.Recipients)
        {
            text.Append(CultureInfo.InvariantCulture, $"\r\n<{OneLine(recipient.Address)}>: ");
            if (recipient.ReplyFromRemote)
            {
                text.Append(CultureInfo.InvariantCulture, $"host {OneLine(recipient.RemoteMta ?? "(unknown)")} said: ");
            }

            text.Append(OneLine(recipient.Reply));
            if (recipient.Action == RecipientAction.Delayed && recipient.RetryUntil is { } until)
            {
                text.Append(CultureInfo.InvariantCulture, $" (will be retried until {DateUtils.FormatDate(until)})");
            }

            text.Append("\r\n");
        }

        var body = text.ToString();
        var ascii = body.All(char.IsAscii);
        var part = new TextPart("plain");
        part.SetText(ascii ? Encoding.ASCII : Encoding.UTF8, body);
        part.ContentDescription = "Notification";
        // Non-ASCII addresses or replies, or a line over the 998-octet limit, are quoted-printable: the text stays 7-bit.
        part.ContentTransferEncoding = ascii && body.Split("\r\n").All(line => line.Length <= 998)
            ? ContentEncoding.SevenBit
            : ContentEncoding.QuotedPrintable;
        return part;
    }

    private MessageDeliveryStatus DeliveryStatus(NoticeRequest request)
    {
        var groups = new List<HeaderList>();
        var perMessage = new HeaderList();
        if (request.Original.Dsn?.EnvelopeId is { Length: > 0 } envelopeId)
        {
            Add(perMessage, "Original-Envelope-Id", DsnFields.Text(envelopeId));
        }

        Add(perMessage, "Reporting-MTA", $"dns; {_host}");
        Add(perMessage, "Arrival-Date", DateUtils.FormatDate(request.Original.ReceivedAt));

        // Extension fields come last (RFC 3464 §2.2).
        Add(perMessage, "X-Elemta-Queue-ID", DsnFields.Text(request.Original.MessageId));
        groups.Add(perMessage);

        foreach (var recipient in request.Recipients)
        {
            var fields = new HeaderList();
            if (NotificationPolicy.DsnOf(request.Original, recipient.Address)?.OriginalRecipient is { } orcpt
                && DsnFields.OriginalRecipient(orcpt) is { } originalRecipient)
            {
                Add(fields, "Original-Recipient", originalRecipient);
            }

            Add(fields, "Final-Recipient", DsnFields.TypedAddress(recipient.Address));
            Add(fields, "Action", DsnFields.ActionName(recipient.Action));
            Add(fields, "Status", recipient.Status ?? DsnFields.Status(recipient.Reply, recipient.Action));
            if (!string.IsNullOrWhiteSpace(recipient.RemoteMta))
            {
                Add(fields, "Remote-MTA", $"dns; {DsnFields.Text(recipient.RemoteMta)}");
            }

            if (recipient.ReplyFromRemote && !string.IsNullOrWhiteSpace(recipient.Reply))
            {
                Add(fields, "Diagnostic-Code", $"smtp; {DsnFields.Text(recipient.Reply)}");
            }

            if (recipient.LastAttemptAt is { } lastAttempt)
            {
                Add(fields, "Last-Attempt-Date", DateUtils.FormatDate(lastAttempt));
            }

            if (recipient.Action == RecipientAction.Delayed && recipient.RetryUntil is { } until)
            {
                Add(fields, "Will-Retry-Until", DateUtils.FormatDate(until));
            }

            groups.Add(fields);
        }

        // Written here rather than through StatusGroups, which ends the last group with an empty line that readers
        // (MimeKit's own parser among them) take for the start of one more, empty, group. Each written group ends
        // with the empty line that separates it from the next; the last one's is dropped.
        var content = new MemoryStream();
        foreach (var group in groups)
        {
            group.WriteTo(Format, content);
        }

        content.SetLength(content.Length - 2);
        content.Position = 0;
        return new MessageDeliveryStatus
        {
            ContentDescription = "Delivery report",
            Content = new MimeContent(content, ContentEncoding.SevenBit),
        };
    }

    /// <summary>
    /// The original whole (<c>message/rfc822</c>) or its header (<c>text/rfc822-headers</c>); with a UTF-8 header
    /// (SMTPUTF8, RFC 6532) the types made for that, <c>message/global</c> and <c>message/global-headers</c>
    /// (RFC 6533 §6). 8-bit content is declared as such rather than re-encoded: it is returned as it was sent.
    /// </summary>
    private static MessagePart Returned(ReturnedOriginal original, bool whole)
    {
        var bytes = whole ? original.Message : [.. original.Header.Span, (byte)'\r', (byte)'\n'];
        MimeMessage message;
        using (var stream = new MemoryStream(bytes, writable: false))
        {
            message = MimeMessage.Load(stream);
        }

        MessagePart part = whole ? new MessagePart(original.HeaderIs8Bit ? "global" : "rfc822")
            : original.HeaderIs8Bit ? new MessagePart("global-headers")
            : new TextRfc822Headers();
        part.Message = message;
        part.Headers.Add(HeaderId.ContentDescription, whole ? "Undelivered Message" : "Header of the original message");
        if (whole ? original.Is8Bit : original.HeaderIs8Bit)
        {
            part.Headers.Add(HeaderId.ContentTransferEncoding, "8bit");
        }

        return part;
    }

    private static void Add(HeaderList fields, string name, string value)
    {
        var header = new Header(name, "");
        header.SetRawValue(DsnFields.RawValue(name, value));
        fields.Add(header);
    }

    /// <summary>One line of text for the human-readable part; it is encoded as a whole, so any character may stay.</summary>
    private static string OneLine(string value) =>
        string.Join(' ', value.Split((char[])['\r', '\n', '\t'], StringSplitOptions.RemoveEmptyEntries)).Trim();

    /// <summary>The sender as it goes into the To field: no line breaks or controls, which would end the field.</summary>
    private static string SafeAddress(string address) => new([.. address.Where(c => c >= ' ' && c != '\x7F' && c != '<' && c != '>')]);

    /// <summary>The left part of the notice's Message-ID: letters, digits and <c>.-_</c> of the queue id.</summary>
    private static string SafeIdLeft(string id)
    {
        var safe = new string([.. id.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')]).Trim('.');
        return safe.Length > 0 ? safe : "notice";
    }

    private static FormatOptions CreateFormat()
    {
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        format.International = false;
        return format;
    }
}
