namespace Elemta.Policies.RateLimits;

/// <summary>A limit of <see cref="Limit"/> events per <see cref="Window"/>; off when <see cref="Limit"/> is 0.</summary>
public sealed class WindowRate
{
    /// <summary>How many events the window allows (also the burst: a quiet client may use them at once). 0: no limit.</summary>
    public int Limit { get; set; }

    /// <summary>The window; the allowance refills evenly over it. Default one hour.</summary>
    public TimeSpan Window { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Whether the limit is on.</summary>
    public bool IsOn => Limit > 0;
}

/// <summary>
/// Message and recipient rates, section <c>Elemta:RateLimit</c> (beside the connection and AUTH limits bound there
/// too), per client address, per envelope sender and per authenticated user. All off by default; each is counted
/// cluster-wide in a RateLimit grain, so a limit holds however the clients spread over the silos.
/// </summary>
public sealed class MessageRateLimitOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:RateLimit";

    /// <summary>Messages (MAIL FROM commands) per client address. Over it: <c>450 4.7.1</c>.</summary>
    public WindowRate MessagesPerIp { get; set; } = new();

    /// <summary>Messages per envelope sender (the MAIL FROM address, case-insensitive; the null sender is not limited).</summary>
    public WindowRate MessagesPerSender { get; set; } = new();

    /// <summary>Messages per authenticated user (SMTP AUTH).</summary>
    public WindowRate MessagesPerUser { get; set; } = new();

    /// <summary>Recipients (RCPT TO commands) per client address. Over it: <c>452 4.5.3</c> for that recipient.</summary>
    public WindowRate RecipientsPerIp { get; set; } = new();

    /// <summary>Recipients per envelope sender.</summary>
    public WindowRate RecipientsPerSender { get; set; } = new();

    /// <summary>Recipients per authenticated user.</summary>
    public WindowRate RecipientsPerUser { get; set; } = new();

    /// <summary>Whether clients in the trusted networks skip the per-address limits (as they skip the connection limits). Default true.</summary>
    public bool TrustedNetworksBypass { get; set; } = true;

    /// <summary>Whether any message or recipient limit is on.</summary>
    public bool AnyOn => MessagesPerIp.IsOn || MessagesPerSender.IsOn || MessagesPerUser.IsOn
        || RecipientsPerIp.IsOn || RecipientsPerSender.IsOn || RecipientsPerUser.IsOn;
}
