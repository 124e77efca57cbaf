using System.Net;
using Elemta.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp.Admission;

/// <summary>
/// The per-address connection limits, cluster-wide in the <see cref="IRateLimitGrain"/> so they hold across silos:
/// the rate of new connections from an address (token bucket <c>connect:&lt;ip&gt;</c>, <c>Elemta:RateLimit:ConnectionsPerIp</c>)
/// and the connections open at once from it (<c>connections:&lt;ip&gt;</c>, <see cref="SmtpServerOptions.MaxConnectionsPerIp"/>).
/// Asked by the built-in <c>connection-limits</c> plugin; which clients it is asked for (trusted networks or not) is
/// the plugin's scope.
/// </summary>
/// <remarks>
/// An admitted connection holds a lease in its address's concurrency grain, renewed every third of
/// <see cref="SmtpServerOptions.ConnectionLeaseTime"/> and released when the admission is disposed (the plugin's
/// disconnect). If this process dies, its leases are not renewed and stop counting after at most one lease time.
/// </remarks>
public sealed partial class RateLimitConnectionLimiter : IConnectionLimiter
{
    /// <summary>Key prefix of the per-address concurrency limit: <c>connections:&lt;ip&gt;</c>.</summary>
    public const string ConcurrencyPrefix = "connections:";

    private readonly IGrainFactory _grains;
    private readonly IOptions<SmtpServerOptions> _options;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger<RateLimitConnectionLimiter> _logger;

    /// <summary>Creates the limiter.</summary>
    public RateLimitConnectionLimiter(IGrainFactory grains, IOptions<SmtpServerOptions> options, TimeProvider timeProvider, ILogger<RateLimitConnectionLimiter> logger)
    {
        ArgumentNullException.ThrowIfNull(options);
        _grains = grains;
        _options = options;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <inheritdoc />
    public async Task<ConnectionAdmission> AdmitAsync(IPAddress client, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var smtp = _options.Value;
        var address = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
        var rate = await _grains.GetCachedGrain<IRateLimitGrain>(IRateLimitGrain.ConnectPrefix + address).TryAcquireAsync(1).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!rate.Allowed)
        {
            return ConnectionAdmission.Deny(ConnectionDenial.RateLimited);
        }

        var lease = Guid.NewGuid();
        var perAddress = _grains.GetCachedGrain<IRateLimitGrain>(ConcurrencyPrefix + address);
        if (!await perAddress.TryEnterAsync(lease, smtp.MaxConnectionsPerIp, smtp.ConnectionLeaseTime).WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            return ConnectionAdmission.Deny(ConnectionDenial.TooManyFromAddress);
        }

        return ConnectionAdmission.Admit(new Lease(this, lease, perAddress, smtp.ConnectionLeaseTime, _timeProvider));
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
        private readonly RateLimitConnectionLimiter _policy;
        private readonly Guid _id;
        private readonly IRateLimitGrain _grain;
        private readonly TimeSpan _duration;
        private readonly ITimer _timer;
        private readonly Lock _lock = new();
        private Task _renewal = Task.CompletedTask;
        private bool _disposed;

        public Lease(RateLimitConnectionLimiter policy, Guid id, IRateLimitGrain grain, TimeSpan duration, TimeProvider timeProvider)
        {
            _policy = policy;
            _id = id;
            _grain = grain;
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
