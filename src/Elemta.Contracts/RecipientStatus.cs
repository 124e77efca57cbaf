namespace Elemta.Contracts;

/// <summary>Where one recipient of a message stands.</summary>
public enum RecipientStatus
{
    /// <summary>Accepted and waiting for its first delivery attempt.</summary>
    Queued = 0,

    /// <summary>At least one attempt failed temporarily; another is scheduled.</summary>
    Deferred = 1,

    /// <summary>The destination accepted it (a 2xx reply to DATA).</summary>
    Delivered = 2,

    /// <summary>Permanently failed: a 5xx reply, a null MX, or the queue lifetime ran out.</summary>
    Failed = 3,
}

/// <summary>Helpers on <see cref="RecipientStatus"/>.</summary>
public static class RecipientStatusExtensions
{
    /// <summary>True when no further delivery attempt will be made for the recipient.</summary>
    public static bool IsFinal(this RecipientStatus status) =>
        status is RecipientStatus.Delivered or RecipientStatus.Failed;
}
