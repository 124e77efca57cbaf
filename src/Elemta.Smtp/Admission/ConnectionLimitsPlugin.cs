using Elemta.Plugins;
using Elemta.Smtp.Observability;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp.Admission;

/// <summary>
/// The per-address connection limits as a built-in plugin (<c>connection-limits</c>, on by default): at connect it asks
/// the <see cref="IConnectionLimiter"/> (the rate of new connections and the connections open at once from the client's
/// address, cluster-wide) and keeps the admission, with its lease, in the session until the disconnect gives it back.
/// A refusal answers <c>421 4.7.0</c> instead of the greeting; limits that cannot be asked answer <c>421 4.3.0</c>.
/// </summary>
/// <remarks>
/// <para>Its scope is <see cref="PluginScope.Inbound"/> while <see cref="SmtpServerOptions.TrustedNetworksBypassConnectionLimits"/>
/// is on (the default), so clients in the trusted networks never reach it — no call, no allocation — as Postfix exempts
/// <c>$mynetworks</c> (<c>smtpd_client_event_limit_exceptions</c>); otherwise <see cref="PluginScope.All"/>.</para>
/// <para>It runs at order -1000 unless <c>Elemta:Plugins:Items:connection-limits:Order</c> says otherwise, before the
/// access list and the DNSBL at order 0, as the limits ran before any plugin when they were part of the server. The
/// total of connections a front-end holds (<see cref="SmtpServerOptions.MaxConnections"/>) stays in the server: it
/// protects the machine's sockets and memory, not a policy.</para>
/// </remarks>
public sealed partial class ConnectionLimitsPlugin(IConnectionLimiter limiter, IOptions<SmtpServerOptions> options, ILogger<ConnectionLimitsPlugin> logger)
    : IElemtaPlugin, IConnectionHooks
{
    /// <summary>The plugin's name (settings under <c>Elemta:Plugins:Items:connection-limits</c>).</summary>
    public const string PluginName = "connection-limits";

    /// <summary>Its order when none is configured: before the plugins at the default order 0.</summary>
    public const int DefaultOrder = -1000;

    /// <summary>The <see cref="SessionInfo.Items"/> key under which the plugin keeps a connection's admission (and its lease) until the disconnect.</summary>
    public const string SessionItem = "connection-limits";

    private readonly bool _bypassTrusted = options.Value.TrustedNetworksBypassConnectionLimits;

    /// <inheritdoc />
    public string Name => PluginName;

    /// <inheritdoc />
    public Version Version { get; } = typeof(ConnectionLimitsPlugin).Assembly.GetName().Version ?? new Version(1, 0);

    /// <inheritdoc />
    public PluginScope Scope => _bypassTrusted ? PluginScope.Inbound : PluginScope.All;

    /// <inheritdoc />
    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken) => ValueTask.CompletedTask;

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnConnectAsync(SessionInfo session, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        // Put in the session before the first await, on the session's own flow (Items is not thread-safe). If the limits
        // answer only after this hook ran out of its budget and the session went on (or ended), the admission then
        // arrives at a holder the disconnect may already have released: it is released at once, rather than held with
        // its renewal timer for ever.
        var held = new HeldAdmission();
        session.Items[SessionItem] = held;
        ConnectionAdmission admission;
        try
        {
            admission = await limiter.AdmitAsync(session.Client.Address, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // The limits could not be asked (e.g. the cluster is unavailable): say so rather than drop the line, and
            // rather than admit a client no limit was checked for.
            LogLimitsUnavailable(session.Client, ex);
            SmtpMetrics.ConnectionPolicyUnavailable();
            return HookDecision.Defer($"{session.ServerName} service temporarily unavailable, try again later", 421, "4.3.0");
        }

        if (admission.Denial is not { } denial)
        {
            // Kept for the disconnect, which is called for every connection whose connect hooks started.
            if (!held.TryHold(admission))
            {
                await admission.DisposeAsync().ConfigureAwait(false);
            }

            return HookDecision.Continue;
        }

        LogRefused(session.Client, denial);
        SmtpMetrics.ConnectionRefused(denial);
        return HookDecision.Defer(denial == ConnectionDenial.TooManyFromAddress
            ? $"{session.ServerName} too many connections from your address, try again later"
            : $"{session.ServerName} too many connection attempts from your address, try again later", 421, "4.7.0");
    }

    /// <inheritdoc />
    public ValueTask OnDisconnectAsync(SessionInfo session, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        // Released whatever the token says: a lease not given back would count against the address until it expires.
        return session.Items.TryGetValue(SessionItem, out var item) && item is HeldAdmission held
            ? held.ReleaseAsync()
            : ValueTask.CompletedTask;
    }

    /// <summary>
    /// The admission of one connection, between its connect and its disconnect, whichever of the two gets here first:
    /// an admission held after the release is released at once.
    /// </summary>
    private sealed class HeldAdmission
    {
        private static readonly ConnectionAdmission Released = ConnectionAdmission.Admit();
        private ConnectionAdmission? _admission;

        /// <summary>Holds <paramref name="admission"/>; false when the connection was already released (the caller releases it).</summary>
        public bool TryHold(ConnectionAdmission admission) => Interlocked.CompareExchange(ref _admission, admission, null) is null;

        /// <summary>Releases what is held, once; anything held later is released by its holder.</summary>
        public ValueTask ReleaseAsync() =>
            Interlocked.Exchange(ref _admission, Released) is { } admission && !ReferenceEquals(admission, Released)
                ? admission.DisposeAsync()
                : ValueTask.CompletedTask;
    }

    [LoggerMessage(EventId = 18301, Level = LogLevel.Information, Message = "Connection from {Client} refused: {Denial}")]
    private partial void LogRefused(System.Net.IPEndPoint client, ConnectionDenial denial);

    [LoggerMessage(EventId = 18302, Level = LogLevel.Error, Message = "Connection limits for {Client} could not be checked; answered 421")]
    private partial void LogLimitsUnavailable(System.Net.IPEndPoint client, Exception exception);
}
