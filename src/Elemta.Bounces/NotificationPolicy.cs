using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Bounces;

/// <summary>
/// Whether a notice is due for a recipient (RFC 3461 §4.1, RFC 5321 §6.1): never to the null sender, never with
/// <c>NOTIFY=NEVER</c>, exactly the kinds an explicit NOTIFY lists, and without NOTIFY failures and delays but not
/// successes.
/// </summary>
public static class NotificationPolicy
{
    /// <summary>Whether a notice of <paramref name="kind"/> about <paramref name="recipient"/> is due to the sender of <paramref name="envelope"/>.</summary>
    public static bool ShouldNotify(MessageEnvelope envelope, string recipient, NoticeKind kind)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        ArgumentNullException.ThrowIfNull(recipient);

        // A notice has the null sender; never answering one is what makes bounce loops impossible.
        if (envelope.Sender.Length == 0)
        {
            return false;
        }

        var notify = NotifyOf(envelope, recipient);
        if (notify is null)
        {
            return kind != NoticeKind.Success;
        }

        var keyword = kind switch
        {
            NoticeKind.Failure => "FAILURE",
            NoticeKind.Delay => "DELAY",
            NoticeKind.Success => "SUCCESS",
            _ => throw new ArgumentOutOfRangeException(nameof(kind), kind, "Unknown notice kind."),
        };

        // NEVER cannot be combined with the others (the front-end refuses it), so it simply never matches a keyword.
        foreach (var listed in notify.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries))
        {
            if (string.Equals(listed, keyword, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The reports among <paramref name="reports"/> whose recipients want a notice of <paramref name="kind"/>.</summary>
    public static ImmutableArray<RecipientReport> Due(MessageEnvelope envelope, NoticeKind kind, IEnumerable<RecipientReport> reports)
    {
        ArgumentNullException.ThrowIfNull(reports);
        return [.. reports.Where(r => ShouldNotify(envelope, r.Address, kind))];
    }

    /// <summary>The kind of notice an action belongs to.</summary>
    public static NoticeKind KindOf(RecipientAction action) => action switch
    {
        RecipientAction.Failed => NoticeKind.Failure,
        RecipientAction.Delayed => NoticeKind.Delay,
        RecipientAction.Delivered or RecipientAction.Relayed => NoticeKind.Success,
        _ => throw new ArgumentOutOfRangeException(nameof(action), action, "Unknown recipient action."),
    };

    /// <summary>The recipient's DSN parameters, or null when it gave none.</summary>
    internal static RecipientDsn? DsnOf(MessageEnvelope envelope, string recipient)
    {
        if (envelope.Dsn is not { } dsn || dsn.Recipients.IsDefault)
        {
            return null;
        }

        // The front-end deduplicates recipients ignoring case and keeps the first RCPT's parameters, so match the same way.
        foreach (var candidate in dsn.Recipients)
        {
            if (string.Equals(candidate.Address, recipient, StringComparison.OrdinalIgnoreCase))
            {
                return candidate;
            }
        }

        return null;
    }

    private static string? NotifyOf(MessageEnvelope envelope, string recipient) => DsnOf(envelope, recipient)?.Notify;
}
