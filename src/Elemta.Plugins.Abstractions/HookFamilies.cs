namespace Elemta.Plugins;

// The eleven hook families of the plugin API. A plugin implements the interfaces of the events it wants; every
// method has a default that does nothing, so it implements only the methods it needs. Each family's summary says
// where the server calls it.

/// <summary>
/// Connection events. Called: <see cref="OnConnectAsync"/> before the greeting, <see cref="OnDisconnectAsync"/> when
/// the session ends. Every plugin of the connection's set is told of the disconnect once the connect hooks were
/// started, however the session ended (QUIT, a refusal by any connect hook, a timeout, the client gone, an error,
/// shutdown), so a plugin may hold a resource for the connection's life (as the built-in <c>connection-limits</c>
/// holds its per-address lease) and give it back there.
/// </summary>
public interface IConnectionHooks
{
    /// <summary>A client connected (and, on an implicit-TLS port, finished the handshake); called before the greeting delay's early-talker check and the 220 greeting. Reject or defer answer instead of the greeting and close the connection.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnConnectAsync(SessionInfo session, CancellationToken cancellationToken) => HookDecision.ContinueTask;

    /// <summary>The session ended, however it ended. Called for every plugin of the connection's set once the connect hooks were started, also for a plugin whose <see cref="OnConnectAsync"/> was not reached (an earlier one refused): a plugin releases only what it took. Exceptions are logged and counted and do not stop the others' calls.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask OnDisconnectAsync(SessionInfo session, CancellationToken cancellationToken) => default;
}

/// <summary>
/// SMTP command events. Called: all four; a plugin is called only for the methods it implements (a method left to its
/// default is not called at all, so an AUTH-only plugin costs HELO nothing).
/// </summary>
public interface ISmtpCommandHooks
{
    /// <summary>A well-formed HELO or EHLO (<see cref="SessionInfo.HeloName"/> is set); called before the 250. A rejection leaves the client without a HELO.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnHeloAsync(SessionInfo session, CancellationToken cancellationToken) => HookDecision.ContinueTask;

    /// <summary>An AUTH exchange ended with success or failure of the credentials; called before the 235 or 535. A rejection of a success answers the plugin's reply and leaves the client unauthenticated.</summary>
    /// <param name="session">The connection (<see cref="SessionInfo.AuthenticatedUser"/> set on success).</param>
    /// <param name="attempt">The mechanism, the name and the outcome.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnAuthAsync(SessionInfo session, AuthAttempt attempt, CancellationToken cancellationToken) => HookDecision.ContinueTask;

    /// <summary>
    /// Before any credentials are checked: once when an AUTH command starts (<see cref="AuthRequest.UserName"/> null,
    /// only the client's address is known), and again once the client has given its name, before its password is
    /// checked. A rejection or deferral ends the exchange with the plugin's code and text instead of checking anything
    /// (the built-in <c>auth-lockout</c> answers <c>454 4.7.0</c>), so a locked-out client learns nothing, not even
    /// from the right password. Called for every plugin, whatever its scope, like <see cref="OnAuthAsync"/>; the
    /// outcome of the attempt then reaches <see cref="OnAuthAsync"/> (a plugin that counts failures counts them there).
    /// </summary>
    /// <param name="session">The connection.</param>
    /// <param name="request">The mechanism and, on the second call, the name the client gave.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnAuthRequestAsync(SessionInfo session, AuthRequest request, CancellationToken cancellationToken) => HookDecision.ContinueTask;

    /// <summary>The TLS handshake after STARTTLS succeeded (<see cref="SessionInfo.IsTls"/> is set). A rejection or deferral closes the connection with 421 (RFC 3207 gives no other reply here).</summary>
    /// <param name="session">The connection.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnStartTlsAsync(SessionInfo session, CancellationToken cancellationToken) => HookDecision.ContinueTask;
}

/// <summary>Mail transaction events. Called: all three, after the server's own checks of the command passed and before its 250 (or 354).</summary>
public interface IMailTransactionHooks
{
    /// <summary>MAIL FROM: the sender (<see cref="MailTransaction.Sender"/>) passed the server's checks.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="transaction">The transaction being started.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnMailFromAsync(SessionInfo session, MailTransaction transaction, CancellationToken cancellationToken) => HookDecision.ContinueTask;

    /// <summary>RCPT TO: <paramref name="recipient"/> passed the server's checks (syntax, relay rules). A rejection refuses this recipient only.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="transaction">The transaction.</param>
    /// <param name="recipient">The recipient asked for.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnRcptToAsync(SessionInfo session, MailTransaction transaction, string recipient, CancellationToken cancellationToken) => HookDecision.ContinueTask;

    /// <summary>DATA: the client is about to send the content (called before the 354; not called for BDAT, whose content is already on its way).</summary>
    /// <param name="session">The connection.</param>
    /// <param name="transaction">The transaction with all its recipients.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnDataAsync(SessionInfo session, MailTransaction transaction, CancellationToken cancellationToken) => HookDecision.ContinueTask;
}

/// <summary>
/// Message events. Called: <see cref="OnMessageAsync"/>, once the whole message (headers and body) has been
/// received and passed the server's content rules, before the durable commit and its 250.
/// </summary>
public interface IMessageHooks
{
    /// <summary>The message is complete. The hook may add or remove headers and rewrite recipients through <paramref name="message"/>.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="message">The message, its headers and its envelope recipients.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnMessageAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken) => HookDecision.ContinueTask;
}

/// <summary>
/// Content filters (antivirus, antispam, any scanner). Called: <see cref="OnFilterAsync"/>, after every
/// <see cref="IMessageHooks"/> hook, before the commit; a filter sees the message hooks' header changes as requests in
/// <see cref="MessageContext.AddedHeaders"/>, not yet in <see cref="MessageContext.Content"/>.
/// </summary>
public interface IContentFilterHooks
{
    /// <summary>Scans the message; a filter may add headers (e.g. a spam score) and decide.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget or the server's shutdown.</param>
    ValueTask<HookDecision> OnFilterAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken) => HookDecision.ContinueTask;
}

/// <summary>A queued message as queue and delivery hooks see it.</summary>
/// <param name="MessageId">The queue id.</param>
/// <param name="Sender">The envelope sender.</param>
/// <param name="Recipients">The envelope recipients.</param>
public sealed record QueuedMessage(string MessageId, string Sender, IReadOnlyList<string> Recipients);

/// <summary>
/// Queue events (enqueue, dequeue, retry), after the durable commit: told, never awaited by the queue (the dequeue is
/// awaited by the delivery attempt, off the queue), so a plugin can neither delay nor lose a message here.
/// </summary>
public interface IQueueHooks
{
    /// <summary>The message was committed to the queue (after the 250: cannot lose it).</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget.</param>
    ValueTask OnEnqueuedAsync(QueuedMessage message, CancellationToken cancellationToken) => default;

    /// <summary>The message was taken from the queue for a delivery attempt.</summary>
    /// <param name="message">The message.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget.</param>
    ValueTask OnDequeuedAsync(QueuedMessage message, CancellationToken cancellationToken) => default;

    /// <summary>A delivery failed temporarily and is scheduled again at <paramref name="nextAttempt"/>.</summary>
    /// <param name="message">The message.</param>
    /// <param name="nextAttempt">When it will be tried again.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget.</param>
    ValueTask OnRetryAsync(QueuedMessage message, DateTimeOffset nextAttempt, CancellationToken cancellationToken) => default;
}

/// <summary>The result of one delivery attempt to one recipient.</summary>
/// <param name="Recipient">The recipient.</param>
/// <param name="Succeeded">Whether the next hop accepted it.</param>
/// <param name="Reply">The next hop's reply (or the local error), for logs.</param>
public sealed record DeliveryResult(string Recipient, bool Succeeded, string Reply);

/// <summary>One delivery attempt of a message to one destination, as a whole.</summary>
/// <param name="RemoteHost">The host that answered (empty when none was reached, or no recipient was sent).</param>
/// <param name="Results">The outcome for each recipient of the attempt, those refused before delivery included.</param>
public sealed record DeliveryAttemptInfo(string RemoteHost, IReadOnlyList<DeliveryResult> Results);

/// <summary>
/// Delivery events: before delivery (awaited, per recipient; a refusal becomes that recipient's attempt result, a
/// reroute sends it through another next hop), then, told and not awaited, the attempt as a whole and each
/// recipient's result (success or failure).
/// </summary>
public interface IDeliveryHooks
{
    /// <summary>Before delivery to one recipient: reject fails it permanently (the sender gets a bounce), defer and hold fail it temporarily (retried on the schedule), drop counts it delivered without delivering it, reroute sends it through another next hop in this attempt.</summary>
    /// <param name="message">The message.</param>
    /// <param name="recipient">The recipient.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget.</param>
    ValueTask<HookDecision> OnBeforeDeliveryAsync(QueuedMessage message, string recipient, CancellationToken cancellationToken) => HookDecision.ContinueTask;

    /// <summary>A delivery attempt ended (success or failure).</summary>
    /// <param name="message">The message.</param>
    /// <param name="result">The outcome for one recipient.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget.</param>
    ValueTask OnDeliveryResultAsync(QueuedMessage message, DeliveryResult result, CancellationToken cancellationToken) => default;

    /// <summary>A delivery attempt ended: once per attempt, before the per-recipient results are told.</summary>
    /// <param name="message">The message, with the recipients of this attempt.</param>
    /// <param name="attempt">The host that answered and every recipient's outcome.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget.</param>
    ValueTask OnDeliveryAttemptAsync(QueuedMessage message, DeliveryAttemptInfo attempt, CancellationToken cancellationToken) => default;
}

/// <summary>
/// Security checks (rate limits, greylisting, reputation). Called: at every RCPT TO that passed the server's own
/// checks, before the <see cref="IMailTransactionHooks"/>; a check on the connection alone (an access list, a DNS
/// block list) belongs in <see cref="IConnectionHooks.OnConnectAsync"/>.
/// </summary>
public interface ISecurityHooks
{
    /// <summary>Asked for each recipient of a transaction: may defer (greylisting, a rate limit), reject (reputation) or continue. A refusal refuses this recipient only.</summary>
    /// <param name="session">The connection.</param>
    /// <param name="transaction">The transaction (its recipients so far, not including <paramref name="recipient"/>).</param>
    /// <param name="recipient">The recipient asked for.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget.</param>
    ValueTask<HookDecision> OnSecurityCheckAsync(SessionInfo session, MailTransaction transaction, string recipient, CancellationToken cancellationToken) => HookDecision.ContinueTask;
}

/// <summary>The outcome of one mail authentication method.</summary>
/// <param name="Method">The method: <c>spf</c>, <c>dkim</c> or <c>dmarc</c>.</param>
/// <param name="Result">Its result as in RFC 8601 (<c>pass</c>, <c>fail</c>, <c>softfail</c>, <c>none</c>, …).</param>
/// <param name="Detail">What was checked, e.g. the domain.</param>
public sealed record AuthenticationResult(string Method, string Result, string? Detail);

/// <summary>Mail authentication results (SPF, DKIM, DMARC): called after the message hooks, which record the results (<see cref="MessageContext.AuthenticationResults"/>), and before the content filters.</summary>
public interface IAuthenticationHooks
{
    /// <summary>The results of the checks run on a message; a hook may decide on them (e.g. enforce DMARC).</summary>
    /// <param name="session">The connection.</param>
    /// <param name="message">The message.</param>
    /// <param name="results">The results.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget.</param>
    ValueTask<HookDecision> OnAuthenticationResultsAsync(SessionInfo session, MessageContext message, IReadOnlyList<AuthenticationResult> results, CancellationToken cancellationToken) => HookDecision.ContinueTask;
}

/// <summary>Metrics a plugin contributes: called once per loaded version, before its first hook call.</summary>
public interface IMetricsHooks
{
    /// <summary>Creates the plugin's instruments on <paramref name="meter"/>, which the server exports and disposes when the plugin is unloaded.</summary>
    /// <param name="meter">A meter named <c>Elemta.Plugins.&lt;plugin name&gt;</c>.</param>
    void CreateInstruments(System.Diagnostics.Metrics.Meter meter) { }
}

/// <summary>A failure the server reports to error hooks.</summary>
/// <param name="Stage">Where it happened, e.g. <c>smtp.accept</c> or <c>plugin:&lt;name&gt;</c>.</param>
/// <param name="Message">What happened.</param>
/// <param name="Recovered">Whether the server recovered (e.g. answered 451 and kept running).</param>
public sealed record ServerError(string Stage, string Message, bool Recovered);

/// <summary>Error and recovery events: a plugin that failed or ran out of its budget, a message the store could not commit, a delivery that threw. Told, never awaited.</summary>
public interface IErrorHooks
{
    /// <summary>The server met an error; called for observation only.</summary>
    /// <param name="error">The error.</param>
    /// <param name="cancellationToken">Cancelled at the plugin's time budget.</param>
    ValueTask OnErrorAsync(ServerError error, CancellationToken cancellationToken) => default;
}
