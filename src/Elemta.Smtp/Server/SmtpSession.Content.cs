using System.Globalization;
using System.Text;
using Elemta.Smtp.Protocol;

namespace Elemta.Smtp.Server;

/// <summary>The message being received (by DATA or BDAT) and the content rules applied before it is accepted.</summary>
internal sealed partial class SmtpSession
{
    /// <summary>
    /// A message being received: its queue id and arrival time (fixed when the content starts, so the
    /// <c>Received:</c> header can be written first), and the content, which starts with that header. Disposing it
    /// returns the content's pooled array: only once nothing reads the content any more.
    /// </summary>
    private sealed class IncomingMessage(string id, DateTimeOffset receivedAt, long maxSize, long capacity) : IDisposable
    {
        public string Id { get; } = id;

        public DateTimeOffset ReceivedAt { get; } = receivedAt;

        public MessageBuffer Content { get; } = new(capacity);

        /// <summary>Where the client's octets begin, after the headers the server prepended.</summary>
        public int ClientStart { get; set; }

        /// <summary>The largest <see cref="MessageBuffer.WrittenCount"/> allowed: the limit plus what we prepended.</summary>
        public long Limit => maxSize + ClientStart;

        /// <summary>Set once the client's octets exceed the limit; nothing more is stored from then on.</summary>
        public bool TooLarge { get; set; }

        public void Dispose() => Content.Dispose();
    }

    /// <summary>Room for what the server adds to the client's content: the <c>Received:</c> header, Message-ID and Date.</summary>
    private const int PrependedAllowance = 1024;

    /// <summary>
    /// Starts a message for the current transaction: a new queue id and the <c>Received:</c> header. The content
    /// buffer is sized for the larger of the transaction's <c>SIZE=</c> and <paramref name="knownOctets"/> (a first
    /// BDAT chunk's size), plus room for the trace header and the fields AddMissingFields may insert, so that a
    /// truthful client's message is never moved; a client that declared less than it sends only costs moves.
    /// </summary>
    private IncomingMessage StartMessage(long knownOctets = 0)
    {
        var expected = Math.Min(Math.Max(_declaredSize ?? 0, knownOctets), Options.MaxMessageSize);
        var capacity = expected > 0 ? expected + PrependedAllowance : MessageBuffer.DefaultCapacity;
        var message = new IncomingMessage(Contracts.MessageIds.New(), _server.TimeProvider.GetUtcNow(), Options.MaxMessageSize, capacity);
        WriteReceivedHeader(message.Content, message.Id, message.ReceivedAt);
        message.ClientStart = message.Content.WrittenCount;
        return message;
    }

    /// <summary>
    /// Reads the header section of a complete message (DATA or BDAT alike) and refuses it with <c>554 5.6.0</c>
    /// (returning null) when a header line is over 998 octets or the message holds a NUL anywhere.
    /// </summary>
    /// <remarks>
    /// RFC 5322 §2.1 and §3.5 allow no NUL in a message, and Elemta offers no BINARYMIME (RFC 3030) under which BDAT
    /// could carry one. A NUL relayed as it is becomes a smuggling path one hop further: a next hop that drops NULs
    /// sees <c>&lt;CRLF&gt;.&lt;CRLF&gt;</c> where Elemta saw a text line. Postfix's cleanup refuses them too.
    /// </remarks>
    private HeaderSection? CheckHeaderSection(IncomingMessage message)
    {
        var content = message.Content.WrittenSpan[message.ClientStart..];
        var section = HeaderSection.Parse(content);
        if (section.Defect == HeaderSectionDefect.None && content[section.End..].Contains((byte)0))
        {
            Error(554, "5.6.0", "NUL character in message content (RFC 5322 §2.1)");
            return null;
        }

        switch (section.Defect)
        {
            case HeaderSectionDefect.LineTooLong:
                Error(554, "5.6.0", $"Header line longer than {HeaderSection.MaxLineLength} octets (RFC 5322 §2.1.1)");
                return null;
            case HeaderSectionDefect.Nul:
                Error(554, "5.6.0", "NUL character in message header (RFC 5322 §3.5)");
                return null;
            default:
                return section;
        }
    }

    /// <summary>
    /// Adds a missing <c>Message-ID</c> or <c>Date</c> (RFC 5322 §3.6: both required) at the end of the header
    /// section, as Postfix's cleanup does, so that what is relayed is a valid message.
    /// </summary>
    private void AddMissingFields(IncomingMessage message, HeaderSection section)
    {
        if (section.HasMessageId && section.HasDate)
        {
            return;
        }

        var content = message.Content;
        var fields = new StringBuilder(128);
        if (section.EndKind == HeaderSectionEnd.EndOfContent && section.End > 0 && content.WrittenSpan[^1] != (byte)'\n')
        {
            // BDAT content may stop in the middle of a line: end it, or the new field would be glued onto it.
            fields.Append("\r\n");
        }

        if (!section.HasMessageId)
        {
            fields.Append("Message-ID: <").Append(message.Id).Append('@').Append(_server.HostName).Append(">\r\n");
        }

        if (!section.HasDate)
        {
            // RFC 5322 §3.3 date-time, the same instant as the Received header's.
            fields.Append("Date: ").Append(message.ReceivedAt.UtcDateTime.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture)).Append("\r\n");
        }

        if (section.EndKind == HeaderSectionEnd.BodyLine)
        {
            // The body began without the empty line; supply it so the added fields do not run into the body.
            fields.Append("\r\n");
        }

        content.Insert(message.ClientStart + section.End, Encoding.UTF8.GetBytes(fields.ToString()));
    }
}
