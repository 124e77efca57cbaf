using System.Buffers;
using System.Globalization;

namespace Elemta.Smtp.Server;

/// <summary>CHUNKING (RFC 3030): message content in BDAT chunks of declared size, with no dot-stuffing and no end-of-data scan.</summary>
internal sealed partial class SmtpSession
{
    /// <summary>The message being received in chunks; non-null from the first BDAT of a transaction to its end.</summary>
    private IncomingMessage? _chunked;

    /// <summary>
    /// <c>BDAT &lt;size&gt; [LAST]</c>. Once the size is understood, exactly that many octets are read whatever the
    /// reply, because they are on their way already and must not be taken for commands (RFC 3030 §2: the server must
    /// accept and discard chunks pipelined after a failed one).
    /// </summary>
    private async Task BdatAsync(string argument)
    {
        if (!TryParseBdat(argument, out var size, out var last))
        {
            // No size, so no way to find the end of the chunk: what follows is read as commands, as for any client
            // that sends something other than SMTP.
            Error(501, "5.5.4", "Syntax: BDAT <octets> [LAST]");
            return;
        }

        if (_mailFrom is null || _recipients.Count == 0)
        {
            if (await ReadChunkAsync(null, size).ConfigureAwait(false))
            {
                Error(503, "5.5.1", _mailFrom is null ? "Need MAIL command" : "Need RCPT command");
            }

            return;
        }

        var message = _chunked ??= StartMessage(size);
        if (message.Content.WrittenCount + size > message.Limit)
        {
            message.TooLarge = true;
        }

        if (!await ReadChunkAsync(message.TooLarge ? null : message, size).ConfigureAwait(false))
        {
            return;
        }

        if (message.TooLarge)
        {
            // The transaction is over (RFC 3030 §2: a client must not send more chunks after a failure); chunks it
            // pipelined anyway find no transaction and are discarded with 503.
            ResetTransaction();
            Error(552, "5.3.4", $"Message size exceeds fixed maximum message size of {Options.MaxMessageSize} octets");
            return;
        }

        if (!last)
        {
            Reply(250, "2.0.0", $"{size.ToString(CultureInfo.InvariantCulture)} octets received");
            return;
        }

        await CompleteMessageAsync(message, DataResult.Complete).ConfigureAwait(false);
    }

    /// <summary><c>bdat-cmd = "BDAT" SP chunk-size [ SP end-marker ]</c> (RFC 3030 §2).</summary>
    private static bool TryParseBdat(string argument, out long size, out bool last)
    {
        var span = argument.AsSpan();
        var space = span.IndexOf(' ');
        var number = space < 0 ? span : span[..space];
        last = space >= 0 && span[(space + 1)..].Equals("LAST", StringComparison.OrdinalIgnoreCase);
        // NumberStyles.None: digits only, no sign or white space; larger than a long is not a size we can honour.
        return long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out size) && (space < 0 || last);
    }

    /// <summary>
    /// Reads exactly <paramref name="size"/> octets, storing them in <paramref name="message"/> (null: discarding
    /// them). Returns false, and ends the session, when the client hangs up first.
    /// </summary>
    private async Task<bool> ReadChunkAsync(IncomingMessage? message, long size)
    {
        var remaining = size;
        while (remaining > 0)
        {
            var read = await ReadAsync(Options.DataTimeout).ConfigureAwait(false);
            var buffer = read.Buffer;
            var chunk = buffer.Slice(0, Math.Min(remaining, buffer.Length));
            if (message is not null)
            {
                // Within the limit, checked for the whole chunk before reading it.
                var span = message.Content.GetSpan((int)chunk.Length);
                chunk.CopyTo(span);
                message.Content.Advance((int)chunk.Length);
            }

            remaining -= chunk.Length;
            _input.AdvanceTo(chunk.End);
            if (remaining > 0 && read.IsCompleted)
            {
                _quit = true;
                return false;
            }
        }

        return true;
    }
}
