using System.Net;

namespace Elemta.Smtp;

/// <summary>
/// Whether the SMTP listener holds its sockets, for the readiness check (<c>/health/ready</c>): a silo whose listener
/// is not bound must not receive traffic from a load balancer.
/// </summary>
public sealed class SmtpListenerStatus
{
    private volatile IReadOnlyList<IPEndPoint> _endPoints = [];

    /// <summary>The endpoints bound now (SMTP, implicit TLS, submission); empty before start and after stop.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints
    {
        get => _endPoints;
        internal set => _endPoints = value;
    }

    /// <summary>True while the listener accepts connections.</summary>
    public bool IsListening => _endPoints.Count > 0;
}
