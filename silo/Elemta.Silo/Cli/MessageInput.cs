using System.Globalization;
using System.Text;
using Elemta.Smtp;
using Microsoft.Extensions.Configuration;
using MimeKit;
using MimeKit.Utils;

namespace Elemta.Silo.Cli;

/// <summary>A message read from a file or standard input for <c>elemta send</c> and <c>elemta sendmail</c>.</summary>
internal sealed class MessageInput
{
    private MessageInput(byte[] content, IReadOnlyList<string> headerRecipients, string? headerSender)
    {
        Content = content;
        HeaderRecipients = headerRecipients;
        HeaderSender = headerSender;
    }

    /// <summary>The message with CRLF line endings, as it will be stored.</summary>
    public byte[] Content { get; private set; }

    /// <summary>Every address of the To, Cc and Bcc header fields.</summary>
    public IReadOnlyList<string> HeaderRecipients { get; }

    /// <summary>The first address of the Sender or From header field.</summary>
    public string? HeaderSender { get; }

    /// <summary>
    /// Reads a message. With <paramref name="dotEnds"/> a line holding only "." ends it (sendmail without <c>-i</c>);
    /// bare LF line ends become CRLF, as SMTP would carry them.
    /// </summary>
    public static async Task<MessageInput> ReadAsync(Stream input, bool dotEnds, long maxSize, CancellationToken cancellationToken)
    {
        using var buffer = new MemoryStream();
        await input.CopyToAsync(buffer, cancellationToken).ConfigureAwait(false);
        var raw = buffer.ToArray();
        var text = new StringBuilder();
        var lines = Encoding.Latin1.GetString(raw).Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].TrimEnd('\r');
            if (i == lines.Length - 1 && line.Length == 0)
            {
                break;
            }

            if (dotEnds && line == ".")
            {
                break;
            }

            text.Append(line).Append("\r\n");
        }

        var content = Encoding.Latin1.GetBytes(text.ToString());
        if (content.Length > maxSize)
        {
            throw new MessageTooBigException(content.Length, maxSize);
        }

        List<string> recipients = [];
        string? sender = null;
        using (var stream = new MemoryStream(content))
        {
            try
            {
                var headers = await HeaderList.LoadAsync(stream, cancellationToken).ConfigureAwait(false);
                foreach (var header in headers)
                {
                    if (header.Id is HeaderId.To or HeaderId.Cc or HeaderId.Bcc && InternetAddressList.TryParse(header.Value, out var list))
                    {
                        recipients.AddRange(list.Mailboxes.Select(m => m.Address));
                    }
                }

                sender = Mailbox(headers[HeaderId.Sender]) ?? Mailbox(headers[HeaderId.From]);
            }
            catch (FormatException)
            {
                // No parseable header block: the message is passed on as it is, addresses must come from the command line.
            }
        }

        return new MessageInput(content, recipients, sender);
    }

    /// <summary>Removes the Bcc field (with its continuation lines) from the header block: its recipients must not see one another.</summary>
    public void RemoveBcc() => Content = Rewrite(Content, (name, _) => !name.Equals("Bcc", StringComparison.OrdinalIgnoreCase), []);

    /// <summary>Adds From, Date and Message-ID when the header block lacks them, as sendmail and Postfix's pickup do.</summary>
    public void AddMissingHeaders(string sender, string? fullName, string hostName, DateTimeOffset now)
    {
        var present = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        Rewrite(Content, (name, _) => present.Add(name) || true, []);
        var added = new List<string>();
        if (!present.Contains("From"))
        {
            var from = new MailboxAddress(fullName ?? string.Empty, sender.Length == 0 ? $"MAILER-DAEMON@{hostName}" : sender);
            added.Add($"From: {from.ToString(true)}");
        }

        if (!present.Contains("Date"))
        {
            added.Add($"Date: {DateUtils.FormatDate(now)}");
        }

        if (!present.Contains("Message-ID"))
        {
            added.Add($"Message-ID: <{Guid.NewGuid():N}.{now.ToUnixTimeSeconds().ToString(CultureInfo.InvariantCulture)}@{hostName}>");
        }

        if (added.Count > 0)
        {
            Content = Rewrite(Content, (_, _) => true, added);
        }
    }

    public static long MaxSize(IConfiguration configuration) =>
        (configuration.GetSection(SmtpServerOptions.SectionName).Get<SmtpServerOptions>() ?? new SmtpServerOptions()).MaxMessageSize;

    public static string HostName(IConfiguration configuration) =>
        configuration.GetSection(SmtpServerOptions.SectionName).Get<SmtpServerOptions>()?.HostName is { Length: > 0 } name ? name : System.Net.Dns.GetHostName();

    private static string? Mailbox(string? value) =>
        value is not null && InternetAddressList.TryParse(value, out var list) ? list.Mailboxes.FirstOrDefault()?.Address : null;

    /// <summary>Keeps the header fields <paramref name="keep"/> accepts, appends <paramref name="added"/> to the header block, leaves the body alone.</summary>
    private static byte[] Rewrite(byte[] content, Func<string, string, bool> keep, IReadOnlyList<string> added)
    {
        var text = Encoding.Latin1.GetString(content);
        var end = text.StartsWith("\r\n", StringComparison.Ordinal) ? 0 : text.IndexOf("\r\n\r\n", StringComparison.Ordinal);
        var header = end < 0 ? text : text[..end];
        var rest = end < 0 ? string.Empty : text[end..];
        var output = new StringBuilder();
        var keeping = true;
        foreach (var line in header.Split("\r\n").Where(l => l.Length > 0))
        {
            if (line[0] is ' ' or '\t')
            {
                if (keeping)
                {
                    output.Append(line).Append("\r\n");
                }

                continue;
            }

            var colon = line.IndexOf(':', StringComparison.Ordinal);
            var name = colon > 0 ? line[..colon].Trim() : line;
            keeping = keep(name, line);
            if (keeping)
            {
                output.Append(line).Append("\r\n");
            }
        }

        foreach (var line in added)
        {
            output.Append(line).Append("\r\n");
        }

        var body = end < 0 ? "\r\n" : end == 0 ? rest : rest[2..];
        return Encoding.Latin1.GetBytes(output.Append(body).ToString());
    }
}

/// <summary>The message is larger than <c>Elemta:Smtp:MaxMessageSize</c>.</summary>
internal sealed class MessageTooBigException : Exception
{
    public MessageTooBigException()
    {
    }

    public MessageTooBigException(string message)
        : base(message)
    {
    }

    public MessageTooBigException(string message, Exception innerException)
        : base(message, innerException)
    {
    }

    public MessageTooBigException(long size, long max)
        : base($"the message is {size.ToString(CultureInfo.InvariantCulture)} octets, more than the limit of {max.ToString(CultureInfo.InvariantCulture)} (Elemta:Smtp:MaxMessageSize)")
    {
    }
}
