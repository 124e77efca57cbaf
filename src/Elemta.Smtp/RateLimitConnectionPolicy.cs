using System.Net;
using Elemta.Contracts;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp;

/// <summary>
/// Admits connections through the cluster-wide <see cref="IRateLimitGrain"/>, so every limit holds across silos: the
/// per-address rate of new connections (token bucket <c>connect:&lt;ip&gt;</c>), then the connections open at once
/// from the address (<c>connections:&lt;ip&gt;</c>, <see cref="SmtpServerOptions.MaxConnectionsPerIp"/>) and in total
/// (<c>connections:total</c>, <see cref="SmtpServerOptions.MaxConnections"/>).
/// </summary>
/// <remarks>
/// An admitted connection holds one lease in each concurrency grain, renewed every third of
/// <see cref="SmtpServerOptions.ConnectionLeaseTime"/> and released when the session ends. If this process dies, its
/// leases are not renewed and stop counting after at most one lease time.
/// </remarks>
public sealed partial class RateLimitConnectionPolicy(
    IGrainFactory grains,
    IOptions<SmtpServerOptions> options,
    TimeProvider timeProvider,
    ILogger<RateLimitConnectionPolicy> logger) : IConnectionPolicy
{
    /// <summary>Key prefix of the concurrency limits: <c>connections:&lt;ip&gt;</c> and <see cref="TotalKey"/>.</summary>
    public const string ConcurrencyPrefix = "connections:";

    /// <summary>Key of the cluster-wide count of open connections.</summary>
    public const string TotalKey = ConcurrencyPrefix + "total";

    /// <inheritdoc />
    public async Task<ConnectionAdmission> AdmitAsync(IPAddress client, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(client);
        var address = client.IsIPv4MappedToIPv6 ? client.MapToIPv4() : client;
        var rate = await grains.GetCachedGrain<IRateLimitGrain>(IRateLimitGrain.ConnectPrefix + address).TryAcquireAsync(1).WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!rate.Allowed)
        {
            return ConnectionAdmission.Deny(ConnectionDenial.RateLimited);
        }

        var smtp = options.Value;
        var lease = Guid.NewGuid();
        var perAddress = grains.GetCachedGrain<IRateLimitGrain>(ConcurrencyPrefix + address);
        if (!await perAddress.TryEnterAsync(lease, smtp.MaxConnectionsPerIp, smtp.ConnectionLeaseTime).WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            return ConnectionAdmission.Deny(ConnectionDenial.TooManyFromAddress);
        }

        var total = grains.GetCachedGrain<IRateLimitGrain>(TotalKey);
        bool admitted;
        try
        {
            admitted = await total.TryEnterAsync(lease, smtp.MaxConnections, smtp.ConnectionLeaseTime).WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await ExitAsync(perAddress, lease).ConfigureAwait(false);
            throw;
        }

        if (!admitted)
        {
            await ExitAsync(perAddress, lease).ConfigureAwait(false);
            return ConnectionAdmission.Deny(ConnectionDenial.TooManyConnections);
        }

        return ConnectionAdmission.Admit(new Lease(this, lease, [perAddress, total], smtp.ConnectionLeaseTime, timeProvider));
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

    /// <summary>One connection's leases: renewed on a timer until disposed, then released.</summary>
    private sealed class Lease : IAsyncDisposable
    {
        private readonly RateLimitConnectionPolicy _policy;
        private readonly Guid _id;
        private readonly IRateLimitGrain[] _grains;
        private readonly TimeSpan _duration;
        private readonly ITimer _timer;
        private readonly Lock _lock = new();
        private Task _renewal = Task.CompletedTask;
        private bool _disposed;

        public Lease(RateLimitConnectionPolicy policy, Guid id, IRateLimitGrain[] grains, TimeSpan duration, TimeProvider timeProvider)
        {
            _policy = policy;
            _id = id;
            _grains = grains;
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
            foreach (var grain in _grains)
            {
                try
                {
                    if (!await grain.RenewAsync(_id, _duration).ConfigureAwait(false))
                    {
                        _policy.LogLeaseRestored(grain.GetPrimaryKeyString());
                    }
                }
                catch (Exception ex)
                {
                    _policy.LogRenewFailed(grain.GetPrimaryKeyString(), ex);
                }
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
            foreach (var grain in _grains)
            {
                await _policy.ExitAsync(grain, _id).ConfigureAwait(false);
            }
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not release a connection lease at {Key}; it will expire")]
    private partial void LogReleaseFailed(string key, Exception exception);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Could not renew a connection lease at {Key}")]
    private partial void LogRenewFailed(string key, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Connection lease at {Key} had been lost (expired or grain reactivated) and was taken back")]
    private partial void LogLeaseRestored(string key);
}
