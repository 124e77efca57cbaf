namespace Elemta.Smtp;

/// <summary>Why <see cref="IConnectionPolicy"/> refused a connection.</summary>
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
/// The answer of <see cref="IConnectionPolicy.AdmitAsync"/>: admitted, holding a place (a lease) until disposed, or
/// refused with a reason. The session disposes it when the connection ends, whatever the answer was. Disposing is
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
