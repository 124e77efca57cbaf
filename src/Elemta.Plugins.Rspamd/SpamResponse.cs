namespace Elemta.Plugins.Rspamd;

/// <summary>
/// What the plugin does with a message, from the mildest to the most severe. An rspamd action maps to one of these
/// (<c>Settings:Actions:&lt;action&gt;</c>), a score threshold to another, and the more severe of the two is done.
/// </summary>
public enum SpamResponse
{
    /// <summary>Nothing beyond the score headers (<c>X-Spam-Score</c>, <c>X-Spam-Status</c>).</summary>
    Continue = 0,

    /// <summary>The score headers and <c>X-Spam: Yes</c>; the message is accepted.</summary>
    AddHeader = 1,

    /// <summary>The message is quarantined (<see cref="HookDecision.Hold"/>), with the spam headers.</summary>
    Hold = 2,

    /// <summary>Refused for now: <c>451 4.7.1</c> with rspamd's message (the client retries).</summary>
    Defer = 3,

    /// <summary>Answered <c>250</c> and discarded (<see cref="HookDecision.Drop"/>).</summary>
    Drop = 4,

    /// <summary>Refused: <c>550 5.7.1</c> with rspamd's message.</summary>
    Reject = 5,
}
