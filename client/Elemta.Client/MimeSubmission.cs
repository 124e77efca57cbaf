using MimeKit;

namespace Elemta.Client;

/// <summary>What both clients do with a MimeKit message before submitting it: the envelope from its header fields, the content without Bcc.</summary>
internal static class MimeSubmission
{
    public static async Task<(string Sender, List<string> Recipients, byte[] Content)> PrepareAsync(
        MimeMessage message, string? sender, IEnumerable<string>? recipients, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        sender ??= (message.Sender ?? message.From.Mailboxes.FirstOrDefault())?.Address
            ?? throw new ArgumentException("The message has neither Sender nor From; pass the envelope sender.", nameof(sender));
        var to = recipients?.ToList() ?? [.. message.To.Mailboxes.Concat(message.Cc.Mailboxes).Concat(message.Bcc.Mailboxes).Select(m => m.Address)];
        var format = FormatOptions.Default.Clone();
        format.NewLineFormat = NewLineFormat.Dos;
        format.HiddenHeaders.Add(HeaderId.Bcc);
        using var buffer = new MemoryStream();
        await message.WriteToAsync(format, buffer, cancellationToken).ConfigureAwait(false);
        return (sender, to, buffer.ToArray());
    }
}
