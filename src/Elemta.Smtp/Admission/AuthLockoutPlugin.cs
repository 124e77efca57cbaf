using Elemta.Auth;
using Elemta.Plugins;
using Microsoft.Extensions.Logging;

namespace Elemta.Smtp.Admission;

/// <summary>
/// The SMTP AUTH failure lockout as a built-in plugin (<c>auth-lockout</c>, on by default), on the failure counts of
/// <see cref="IAuthFailureLimiter"/> (per client address and per login name, cluster-wide; the same buckets lock out
/// the REST API's Basic auth and the admin sign-in). Before any credentials are checked
/// (<see cref="ISmtpCommandHooks.OnAuthRequestAsync"/>: first the address, then the name once the client gave it) a
/// locked-out client is answered <c>454 4.7.0 Too many failed authentication attempts, try again later</c>, so
/// guessing stops even for the right password; a failed attempt (<see cref="ISmtpCommandHooks.OnAuthAsync"/>) is
/// counted against both.
/// </summary>
/// <remarks>
/// Its scope is every session (AUTH hooks are called whatever the scope): trusted clients are locked out too. It runs
/// at order -1000 unless configured otherwise, so a failure is counted before any other plugin's AUTH hook can answer.
/// When the counts cannot be read or written (the cluster is unavailable) it answers <c>454 4.7.0 Temporary
/// authentication failure</c> rather than let an unchecked guess through.
/// </remarks>
public sealed partial class AuthLockoutPlugin(IAuthFailureLimiter failures, ILogger<AuthLockoutPlugin> logger) : IElemtaPlugin, ISmtpCommandHooks
{
    /// <summary>The plugin's name (settings under <c>Elemta:Plugins:Items:auth-lockout</c>).</summary>
    public const string PluginName = "auth-lockout";

    /// <summary>Its order when none is configured: before the plugins at the default order 0.</summary>
    public const int DefaultOrder = -1000;

    /// <summary>The answer to a locked-out address or name.</summary>
    internal static readonly HookDecision LockedOut = HookDecision.Defer("Too many failed authentication attempts, try again later", 454, "4.7.0");

    /// <summary>The answer when the failure counts cannot be read or written; the session counts it as <c>unavailable</c>, not as a lockout.</summary>
    internal static readonly HookDecision Unavailable = HookDecision.Defer("Temporary authentication failure", 454, "4.7.0");

    /// <inheritdoc />
    public string Name => PluginName;

    /// <inheritdoc />
    public Version Version { get; } = typeof(AuthLockoutPlugin).Assembly.GetName().Version ?? new Version(1, 0);

    /// <inheritdoc />
    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnAuthRequestAsync(SessionInfo session, AuthRequest request, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(request);
        try
        {
            var (allowed, _) = await failures.CheckAsync(session.Client.Address, request.UserName, cancellationToken).ConfigureAwait(false);
            return allowed ? HookDecision.Continue : LockedOut;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUnavailable(session.Client, ex);
            return Unavailable;
        }
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnAuthAsync(SessionInfo session, AuthAttempt attempt, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(attempt);
        if (attempt.Succeeded)
        {
            return HookDecision.Continue;
        }

        try
        {
            await failures.RecordFailureAsync(session.Client.Address, attempt.UserName, cancellationToken).ConfigureAwait(false);
            return HookDecision.Continue;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            LogUnavailable(session.Client, ex);
            return Unavailable;
        }
    }

    [LoggerMessage(EventId = 18311, Level = LogLevel.Error, Message = "AUTH failure counts for {Client} could not be read or written; answered 454")]
    private partial void LogUnavailable(System.Net.IPEndPoint client, Exception exception);
}
