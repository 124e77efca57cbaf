using System.Collections.Immutable;
using System.Globalization;
using System.Text;
using Elemta.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Local;

/// <summary>
/// Delivers into each recipient's Maildir (the qmail layout Dovecot, Courier and Postfix's virtual agent read): the
/// message is written and fsync'd in <c>tmp/</c>, renamed into <c>new/</c>, and <c>new/</c> is fsync'd, so a
/// recipient reported delivered survives a power cut and a reader never sees a partial file.
/// </summary>
public sealed partial class MaildirDeliveryAgent : IDeliveryAgent
{
    /// <summary>What <see cref="DeliveryAttempt.RemoteHost"/> says for a Maildir delivery.</summary>
    public const string RemoteHostName = "maildir";

    private const int EnoSpc = 28;
    private const int EDQuot = 122;
    private const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    private const UnixFileMode PrivateFile = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Deliveries by this process, the Q part of a unique name: two deliveries in one microsecond still differ.</summary>
    private static long _deliveries;

    private static readonly string HostPart = EscapeHost(Environment.MachineName);

    private readonly LocalDeliveryOptions _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<MaildirDeliveryAgent> _logger;

    /// <summary>Creates the agent for the Maildir domains of <paramref name="options"/>.</summary>
    public MaildirDeliveryAgent(IOptions<LocalDeliveryOptions> options, TimeProvider timeProvider, ILogger<MaildirDeliveryAgent> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <inheritdoc />
    public async Task<DeliveryAttempt> DeliverAsync(DeliveryWork work, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        var started = _timeProvider.GetUtcNow();
        var timestamp = _timeProvider.GetTimestamp();
        var domain = work.Domain.ToLowerInvariant();
        var local = _options.Find(domain);
        ImmutableArray<RecipientResult> results;
        if (local is null || local.ParsedTransport != LocalTransport.Maildir || !MaildirPathTemplate.TryParse(local.MaildirPath, out var template, out _))
        {
            // Only a configuration that changed under a running router gets here; the mail waits for it to be fixed.
            var reply = $"451 4.3.5 {domain} is not configured for Maildir delivery";
            results = [.. work.Recipients.Select(r => new RecipientResult(r, RecipientOutcome.Transient, reply, DeliveryError.Local))];
        }
        else
        {
            var builder = ImmutableArray.CreateBuilder<RecipientResult>(work.Recipients.Length);
            foreach (var recipient in work.Recipients)
            {
                builder.Add(await DeliverOneAsync(work, domain, recipient, local, template!, content, cancellationToken).ConfigureAwait(false));
            }

            results = builder.MoveToImmutable();
        }

        return new DeliveryAttempt(RemoteHostName, started, results, Duration: _timeProvider.GetElapsedTime(timestamp));
    }

    private async Task<RecipientResult> DeliverOneAsync(DeliveryWork work, string domain, string recipient, LocalDomainOptions local, MaildirPathTemplate template,
        ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var at = recipient.LastIndexOf('@');
        var user = (at < 0 ? recipient : recipient[..at]).ToLowerInvariant();
        var maildir = template.Resolve(domain, user, out var nameError);
        if (maildir is null)
        {
            LogRefusedName(work.MessageId, recipient, nameError!);
            return new RecipientResult(recipient, RecipientOutcome.Permanent, $"550 5.1.1 <{recipient}>: invalid mailbox name: local part {nameError}", DeliveryError.Local);
        }

        string? tmpPath = null;
        try
        {
            if (!Directory.Exists(maildir))
            {
                if (!local.CreateMailboxes)
                {
                    return new RecipientResult(recipient, RecipientOutcome.Permanent, $"550 5.1.1 <{recipient}>: no such mailbox", DeliveryError.Local);
                }

                CreateMaildir(maildir);
                LogCreatedMailbox(maildir);
            }

            // A mailbox directory made by hand may lack the three subdirectories; they are part of the format.
            var tmpDirectory = EnsureDirectory(Path.Combine(maildir, "tmp"));
            var newDirectory = EnsureDirectory(Path.Combine(maildir, "new"));
            EnsureDirectory(Path.Combine(maildir, "cur"));

            var prefix = TracePrefix(work.Sender, recipient, local);
            var size = prefix.Length + content.Length;
            var name = UniqueName(size);
            tmpPath = Path.Combine(tmpDirectory, name);
            await WriteDurablyAsync(tmpPath, prefix, content, cancellationToken).ConfigureAwait(false);

            var newPath = Path.Combine(newDirectory, name);
            File.Move(tmpPath, newPath, overwrite: false);
            tmpPath = null;
            DirectorySync.Flush(newDirectory);
            return new RecipientResult(recipient, RecipientOutcome.Delivered, $"250 2.0.0 delivered to maildir {maildir}");
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            var reply = (ex as IOException)?.HResult switch
            {
                EnoSpc => $"452 4.3.1 <{recipient}>: insufficient system storage",
                EDQuot => $"452 4.2.2 <{recipient}>: mailbox full (disk quota)",
                _ => $"451 4.3.0 <{recipient}>: local delivery error: {ex.Message}",
            };
            LogDeliveryFailed(ex, work.MessageId, recipient, maildir);
            return new RecipientResult(recipient, RecipientOutcome.Transient, reply, DeliveryError.Local);
        }
        finally
        {
            if (tmpPath is not null)
            {
                TryDelete(tmpPath);
            }
        }
    }

    /// <summary>
    /// <c>Return-Path:</c> and <c>Delivered-To:</c>, prepended in that order as Postfix's local agent does: the
    /// envelope is gone once the message sits in a mailbox, and readers find it there.
    /// </summary>
    private static byte[] TracePrefix(string sender, string recipient, LocalDomainOptions local)
    {
        var text = new StringBuilder();
        if (local.AddReturnPath)
        {
            text.Append("Return-Path: <").Append(sender).Append(">\r\n");
        }

        if (local.AddDeliveredTo)
        {
            text.Append("Delivered-To: ").Append(recipient).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(text.ToString());
    }

    /// <summary>
    /// <c>&lt;sec&gt;.M&lt;usec&gt;P&lt;pid&gt;Q&lt;n&gt;.&lt;host&gt;,S=&lt;size&gt;</c>: the Maildir spec's unique name (time,
    /// process, per-process delivery count, host), with the Maildir++ size so that readers need not stat the file.
    /// </summary>
    private string UniqueName(long size)
    {
        var now = _timeProvider.GetUtcNow();
        var seconds = now.ToUnixTimeSeconds();
        var microseconds = (now.UtcTicks % TimeSpan.TicksPerSecond) / TimeSpan.TicksPerMicrosecond;
        var delivery = Interlocked.Increment(ref _deliveries);
        return string.Create(CultureInfo.InvariantCulture, $"{seconds}.M{microseconds}P{Environment.ProcessId}Q{delivery}.{HostPart},S={size}");
    }

    /// <summary>The host name with the two characters the Maildir spec reserves escaped as it prescribes.</summary>
    private static string EscapeHost(string host) => host.Replace("/", "\\057", StringComparison.Ordinal).Replace(":", "\\072", StringComparison.Ordinal);

    private static async Task WriteDurablyAsync(string path, byte[] prefix, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions
        {
            Mode = FileMode.CreateNew,
            Access = FileAccess.Write,
            Share = FileShare.None,
            Options = FileOptions.Asynchronous,
            PreallocationSize = prefix.Length + content.Length,
        };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = PrivateFile;
        }

        var stream = new FileStream(path, options);
        await using (stream.ConfigureAwait(false))
        {
            await stream.WriteAsync(prefix, cancellationToken).ConfigureAwait(false);
            await stream.WriteAsync(content, cancellationToken).ConfigureAwait(false);
            // fsync before the rename: a name in new/ must never point at data that is not on disk.
            stream.Flush(flushToDisk: true);
        }
    }

    /// <summary>Creates a Maildir and makes its entry durable, so a delivery into it cannot vanish with its directory.</summary>
    private static void CreateMaildir(string maildir)
    {
        CreatePrivateDirectory(maildir);
        foreach (var sub in (string[])["tmp", "new", "cur"])
        {
            CreatePrivateDirectory(Path.Combine(maildir, sub));
        }

        DirectorySync.Flush(maildir);
        DirectorySync.Flush(Path.GetDirectoryName(maildir)!);
    }

    private static string EnsureDirectory(string path)
    {
        if (!Directory.Exists(path))
        {
            CreatePrivateDirectory(path);
            DirectorySync.Flush(Path.GetDirectoryName(path)!);
        }

        return path;
    }

    private static void CreatePrivateDirectory(string path)
    {
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(path);
        }
        else
        {
            Directory.CreateDirectory(path, PrivateDirectory);
        }
    }

    private void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            LogTmpNotRemoved(ex, path);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Message {MessageId}: refused recipient {Recipient}: its local part {Reason}")]
    private partial void LogRefusedName(string messageId, string recipient, string reason);

    [LoggerMessage(Level = LogLevel.Information, Message = "Created Maildir {Maildir}")]
    private partial void LogCreatedMailbox(string maildir);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Message {MessageId}: Maildir delivery to {Recipient} ({Maildir}) failed; will retry")]
    private partial void LogDeliveryFailed(Exception exception, string messageId, string recipient, string maildir);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not remove the partial Maildir file {Path}")]
    private partial void LogTmpNotRemoved(Exception exception, string path);
}
