namespace Elemta.Contracts;

/// <summary>
/// Delivery priority of a message. Lower values are delivered first; the gaps leave room for
/// site-specific classes between the named ones.
/// </summary>
public enum MessagePriority
{
    /// <summary>Delivered before anything else (alerts, password resets).</summary>
    Critical = 0,

    /// <summary>Interactive mail that should overtake normal traffic.</summary>
    High = 100,

    /// <summary>The default for mail received over SMTP.</summary>
    Normal = 200,

    /// <summary>Mail that can wait behind normal traffic.</summary>
    Low = 300,

    /// <summary>Bulk mail, delivered only when nothing else is due.</summary>
    Bulk = 400,
}
