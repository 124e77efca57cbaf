using System.Net;
using Elemta.Contracts;
using Elemta.Smtp.Protocol;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp;

/// <summary>
/// Admits connections: at most <see cref="SmtpServerOptions.MaxConnections"/> open at once on this front-end (a local
/// count), then, for clients outside the trusted networks, the cluster-wide limits of the <see cref="IRateLimitGrain"/>
/// so they hold across silos: the per-address rate of new connections (token bucket <c>connect:&lt;ip&gt;</c>) and the
/// connections open at once from the address (<c>connections:&lt;ip&gt;</c>, <see cref="SmtpServerOptions.MaxConnectionsPerIp"/>).
/// </summary>
/// <remarks>
/// <para>An admitted connection from an untrusted address holds a lease in its address's concurrency grain, renewed
/// every third of <see cref="SmtpServerOptions.ConnectionLeaseTime"/> and released when the session ends. If this
/// process dies, its leases are not renewed and stop counting after at most one lease time.</para>
/// <para>The total is counted per front-end, like Postfix's smtpd process limit, because what it protects (sockets,
/// memory, CPU) belongs to one machine; a single cluster-wide counter was also one grain every connection in the
/// cluster had to call twice. Trusted networks (<see cref="SmtpServerOptions.EffectiveTrustedNetworks"/>) skip the
/// per-address limits unless <see cref="SmtpServerOptions.TrustedNetworksBypassConnectionLimits"/> is false, as
/// Postfix exempts <c>$mynetworks</c> (<c>smtpd_client_event_limit_exceptions</c>): they are the organisation's own
/// relaying hosts, which open many connections by design.</para>
/// </remarks>
public sealed partial class RateLimitConnectionPolicy : IConnectionPolicy
{
    /// <summary>Key prefix of the per-address concurrency limit: <c>connections:&lt;ip&gt;</c>.</summary>
    public const string ConcurrencyPrefix = "connections:";

    private readonly IGrainFactory _grains;
    private readonly IOptions<SmtpServerOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<RateLimitConnectionPolicy> _logger;
    private readonly NetworkList? _exempt;
    private int _open;

    /// <summary>Creates the policy; the trusted networks are read once, as the server reads them.</summary>
    public RateLimitConnectionPolicy(IGrainFactory grains, IOptions<SmtpServerOptions> options, TimeProvider timeProvider, ILogger<RateLimitConnectionPolicy> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _grains = grains;
        _options = options;
        _timeProvider = timeProvider;
        _logger = logger;
        _exempt = options.Value.TrustedNetworksBypassConnectionLimits ? new NetworkList(options.Value.EffectiveTrustedNetworks) : null;
    }

    /// <summary>Connections this front-end has admitted and not yet released.</summary>
    public int OpenConnections => Volatile.Read(ref _open);

    /// <inheritdoc />
    public async Task<ConnectionAdmission> AdmitAsync(IPAddress client, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var smtp = _options.Value;
        if (Interlocked.Increment(ref _open) > smtp.MaxConnections)
        {
            Interlocked.Decrement(ref _open);
            return ConnectionAdmission.Deny(ConnectionDenial.TooManyConnections);
        }

        var slot = new Slot(this);
        try
        {
            var address = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
            if (_exempt is not null && _exempt.Contains(address))
            {
                return ConnectionAdmission.Admit(slot);
            }

            var rate = await _grains.GetCachedGrain<IRateLimitGrain>(IRateLimitGrain.ConnectPrefix + address).TryAcquireAsync(1).WaitAsync(cancellationToken).ConfigureAwait(false);
            if (!rate.Allowed)
            {
                await slot.DisposeAsync().ConfigureAwait(false);
                return ConnectionAdmission.Deny(ConnectionDenial.RateLimited);
            }

            var lease = Guid.NewGuid();
            var perAddress = _grains.GetCachedGrain<IRateLimitGrain>(ConcurrencyPrefix + address);
            if (!await perAddress.TryEnterAsync(lease, smtp.MaxConnectionsPerIp, smtp.ConnectionLeaseTime).WaitAsync(cancellationToken).ConfigureAwait(false))
            {
                await slot.DisposeAsync().ConfigureAwait(false);
                return ConnectionAdmission.Deny(ConnectionDenial.TooManyFromAddress);
            }

            return ConnectionAdmission.Admit(new Lease(this, lease, perAddress, smtp.ConnectionLeaseTime, _timeProvider, slot));
        }
        catch
        {
            await slot.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>One place under <see cref="SmtpServerOptions.MaxConnections"/>, given back once.</summary>
    private sealed class Slot(RateLimitConnectionPolicy policy) : IAsyncDisposable
    {
        private int _released;

        public ValueTask DisposeAsync()
        {
            if (Interlocked.Exchange(ref _released, 1) == 0)
            {
                Interlocked.Decrement(ref policy._open);
            }

            return ValueTask.CompletedTask;
        }
    }

    private async Task ExitAsync(IRateLimitGrain grain, Guid lease)
    {
        try
        {
            await grain.ExitAsync(lease).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // It expires by itself: not renewed from now on.
            LogReleaseFailed(grain.GetPrimaryKeyString(), ex);
        }
    }

    /// <summary>One connection's lease at its address: renewed on a timer until disposed, then released.</summary>
    private sealed class Lease : IAsyncDisposable
    {
        private readonly RateLimitConnectionPolicy _policy;
        private readonly Guid _id;
        private readonly IRateLimitGrain _grain;
        private readonly Slot _slot;
        private readonly TimeSpan _duration;
        private readonly ITimer _timer;
        private readonly Lock _lock = new();
        private Task _renewal = Task.CompletedTask;
        private bool _disposed;

        public Lease(RateLimitConnectionPolicy policy, Guid id, IRateLimitGrain grain, TimeSpan duration, TimeProvider timeProvider, Slot slot)
        {
            _policy = policy;
            _id = id;
            _grain = grain;
            _slot = slot;
            _duration = duration;
            var period = duration / 3;
            _timer = timeProvider.CreateTimer(static state => ((Lease)state!).OnTimer(), this, period, period);
        }

        private void OnTimer()
        {
            lock (_lock)
            {
                // One renewal at a time, and none once released: a renewal after the release would take the lease back.
                if (!_disposed && _renewal.IsCompleted)
                {
                    _renewal = RenewAsync();
                }
            }
        }

        private async Task RenewAsync()
        {
            try
            {
                if (!await _grain.RenewAsync(_id, _duration).ConfigureAwait(false))
                {
                    _policy.LogLeaseRestored(_grain.GetPrimaryKeyString());
                }
            }
            catch (Exception ex)
            {
                _policy.LogRenewFailed(_grain.GetPrimaryKeyString(), ex);
            }
        }

        public async ValueTask DisposeAsync()
        {
            Task renewal;
            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }

                _disposed = true;
                renewal = _renewal;
            }

            await _slot.DisposeAsync().ConfigureAwait(false);
            await _timer.DisposeAsync().ConfigureAwait(false);
            await renewal.ConfigureAwait(false);
            await _policy.ExitAsync(_grain, _id).ConfigureAwait(false);
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not release a connection lease at {Key}; it will expire")]
    private partial void LogReleaseFailed(string key, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not renew a connection lease at {Key}")]
    private partial void LogRenewFailed(string key, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Connection lease at {Key} had been lost (expired or grain reactivated) and was taken back")]
    private partial void LogLeaseRestored(string key);
}
