namespace Elemta.Smtp.Admission;

/// <summary>Why a connection was refused before the greeting (the server's total, or the <c>connection-limits</c> plugin's per-address limits).</summary>
public enum ConnectionDenial
{
    /// <summary>Too many new connections per unit of time from the client's address (a token bucket).</summary>
    RateLimited,

    /// <summary>Too many connections open at once from the client's address (<c>Elemta:Smtp:MaxConnectionsPerIp</c>).</summary>
    TooManyFromAddress,

    /// <summary>Too many connections open at once in total (<c>Elemta:Smtp:MaxConnections</c>).</summary>
    TooManyConnections,
}

/// <summary>
/// The answer of <see cref="IConnectionLimiter.AdmitAsync"/>: admitted, holding a place (a lease) until disposed, or
/// refused with a reason. The <c>connection-limits</c> plugin disposes it at the connection's disconnect. Disposing is
/// idempotent; a lease's release is best effort, and a lease that could not be released expires.
/// </summary>
public sealed class ConnectionAdmission : IAsyncDisposable
{
    private IAsyncDisposable? _lease;

    private ConnectionAdmission(ConnectionDenial? denial, IAsyncDisposable? lease)
    {
        Denial = denial;
        _lease = lease;
    }

    /// <summary>True when the client may be greeted.</summary>
    public bool Allowed => Denial is null;

    /// <summary>Why the connection was refused; null when it was admitted.</summary>
    public ConnectionDenial? Denial { get; }

    /// <summary>Admits a connection; <paramref name="lease"/>, if any, is released when the admission is disposed.</summary>
    public static ConnectionAdmission Admit(IAsyncDisposable? lease = null) => new(null, lease);

    /// <summary>Refuses a connection.</summary>
    public static ConnectionAdmission Deny(ConnectionDenial reason) => new(reason, null);

    /// <summary>Releases the connection's place, once.</summary>
    public ValueTask DisposeAsync() => Interlocked.Exchange(ref _lease, null)?.DisposeAsync() ?? ValueTask.CompletedTask;
}

/// <summary>
/// The per-address connection limits the built-in <c>connection-limits</c> plugin (<see cref="ConnectionLimitsPlugin"/>)
/// enforces: asked at connect, and the admission it returns is held until the disconnect.
/// </summary>
public interface IConnectionLimiter
{
    /// <summary>
    /// Admits the connection (it may be greeted) or refuses it. The plugin disposes the answer when the connection ends,
    /// which releases the place an admitted connection held. Throws when the limits cannot be asked, in which case the
    /// plugin answers <c>421 4.3.0</c>.
    /// </summary>
    Task<ConnectionAdmission> AdmitAsync(System.Net.IPAddress client, CancellationToken cancellationToken);
}
