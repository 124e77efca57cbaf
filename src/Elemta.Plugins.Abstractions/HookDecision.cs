namespace Elemta.Plugins;

/// <summary>What a hook decided about the connection, command, transaction or message it was shown.</summary>
public enum HookVerdict
{
    /// <summary>No objection: the next plugin is asked, then the server goes on as it would without plugins.</summary>
    Continue = 0,

    /// <summary>Accepted: the plugins after this one are not asked for this event; the server goes on.</summary>
    Accept = 1,

    /// <summary>Refused permanently: the server answers the decision's 5xx code, enhanced code and text.</summary>
    Reject = 2,

    /// <summary>Refused for now: the server answers the decision's 4xx code, enhanced code and text; the client retries.</summary>
    Defer = 3,

    /// <summary>
    /// For a message: answered <c>250</c> but not queued (silently discarded). Before the message, the same as
    /// <see cref="Reject"/> with <c>550 5.7.1</c>, since nothing can be discarded yet.
    /// </summary>
    Drop = 4,

    /// <summary>
    /// Quarantine: the message is answered <c>250</c> and queued held, in the same commit, so it is not delivered
    /// until an operator releases it. Before the message, the same as <see cref="Reject"/> with <c>550 5.7.1</c>.
    /// </summary>
    Hold = 5,

    /// <summary>
    /// Before delivery: this recipient goes through another next hop in this attempt — a relay named in
    /// <c>Elemta:Delivery:Relays</c>, or <c>host:port</c> — instead of its domain's route or MX hosts (the decision's
    /// <see cref="HookDecision.Text"/> holds it). Recipients rerouted to the same hop share one transaction. A hop
    /// that is neither fails the recipient temporarily (<c>451 4.3.5</c>), so it is retried, not lost. At the SMTP
    /// stages, where nothing is routed yet, the same as <see cref="Continue"/> (rewrite recipients in a message hook
    /// instead).
    /// </summary>
    Reroute = 6,
}

/// <summary>
/// A hook's answer: a <see cref="HookVerdict"/> and, for <see cref="HookVerdict.Reject"/> and
/// <see cref="HookVerdict.Defer"/>, the SMTP reply (RFC 5321 code, RFC 3463 enhanced status code, text).
/// </summary>
/// <param name="Verdict">What the hook decided.</param>
/// <param name="Code">The SMTP reply code: 5xx for a rejection, 4xx for a deferral, 0 otherwise.</param>
/// <param name="EnhancedCode">The enhanced status code (<c>5.7.1</c>), or null for the server's default.</param>
/// <param name="Text">The reply text (one line, no CR or LF), or the hold reason; null for the server's default.</param>
public readonly record struct HookDecision(HookVerdict Verdict, int Code, string? EnhancedCode, string? Text)
{
    /// <summary>No objection: ask the next plugin.</summary>
    public static HookDecision Continue => default;

    /// <summary>Accept: skip the remaining plugins for this event.</summary>
    public static HookDecision Accept => new(HookVerdict.Accept, 0, null, null);

    /// <summary>Answer 250 to the message but do not queue it.</summary>
    public static HookDecision Drop => new(HookVerdict.Drop, 0, null, null);

    /// <summary>A completed <see cref="Continue"/>, for hooks with nothing to do that return synchronously.</summary>
    public static ValueTask<HookDecision> ContinueTask => default;

    /// <summary>Refuses with a permanent error.</summary>
    /// <param name="text">The reply text, one line of printable characters.</param>
    /// <param name="code">A 5xx reply code (default 550).</param>
    /// <param name="enhancedCode">An enhanced status code of class 5 (default <c>5.7.1</c>, delivery not authorized).</param>
    /// <exception cref="ArgumentException">The code is not 5xx, the enhanced code is not of class 5, or the text has a line break.</exception>
    public static HookDecision Reject(string text, int code = 550, string enhancedCode = "5.7.1") =>
        Checked(HookVerdict.Reject, code, enhancedCode, text, 5);

    /// <summary>Refuses with a temporary error: the client should try again later.</summary>
    /// <param name="text">The reply text, one line of printable characters.</param>
    /// <param name="code">A 4xx reply code (default 451).</param>
    /// <param name="enhancedCode">An enhanced status code of class 4 (default <c>4.7.1</c>).</param>
    /// <exception cref="ArgumentException">The code is not 4xx, the enhanced code is not of class 4, or the text has a line break.</exception>
    public static HookDecision Defer(string text, int code = 451, string enhancedCode = "4.7.1") =>
        Checked(HookVerdict.Defer, code, enhancedCode, text, 4);

    /// <summary>Delivers this recipient through another next hop (see <see cref="HookVerdict.Reroute"/>).</summary>
    /// <param name="nextHop">A relay's name from <c>Elemta:Delivery:Relays</c>, or <c>host:port</c> (an IPv6 address in brackets).</param>
    /// <exception cref="ArgumentException">The next hop is empty or has white space or control characters.</exception>
    public static HookDecision Reroute(string nextHop)
    {
        ArgumentException.ThrowIfNullOrEmpty(nextHop);
        if (nextHop.Any(c => char.IsWhiteSpace(c) || char.IsControl(c)))
        {
            throw new ArgumentException("A next hop is a relay's name or host:port, without white space.", nameof(nextHop));
        }

        return new HookDecision(HookVerdict.Reroute, 0, null, nextHop);
    }

    /// <summary>Quarantines the message: queued held until an operator releases it (see <see cref="HookVerdict.Hold"/>).</summary>
    /// <param name="reason">Why, for the log.</param>
    public static HookDecision Hold(string reason) => new(HookVerdict.Hold, 0, null, reason);

    private static HookDecision Checked(HookVerdict verdict, int code, string enhancedCode, string text, int @class)
    {
        ArgumentNullException.ThrowIfNull(text);
        ArgumentNullException.ThrowIfNull(enhancedCode);
        if (code / 100 != @class || code % 100 > 99)
        {
            throw new ArgumentException($"A {verdict} needs a {@class}xx reply code, not {code}.", nameof(code));
        }

        var parts = enhancedCode.Split('.');
        if (parts.Length != 3 || parts[0] != @class.ToString(System.Globalization.CultureInfo.InvariantCulture)
            || !parts.Skip(1).All(p => p.Length is >= 1 and <= 3 && p.All(char.IsAsciiDigit)))
        {
            throw new ArgumentException($"A {verdict} needs an enhanced status code {@class}.x.y (RFC 3463), not '{enhancedCode}'.", nameof(enhancedCode));
        }

        if (text.Any(char.IsControl))
        {
            throw new ArgumentException("The reply text must be one line without control characters.", nameof(text));
        }

        return new HookDecision(verdict, code, enhancedCode, text);
    }
}
