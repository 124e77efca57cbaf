using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Elemta.Plugins.PolicyDelegation;

/// <summary>
/// Where the policy server listens, written as Postfix writes it in <c>check_policy_service</c>:
/// <c>inet:host:port</c> (<c>inet:127.0.0.1:10023</c>, <c>inet:[::1]:10023</c>, <c>inet:localhost:10023</c>) or
/// <c>unix:/path/to/socket</c>.
/// </summary>
internal sealed class PolicyEndpoint
{
    private PolicyEndpoint(string text, EndPoint endPoint)
    {
        Text = text;
        EndPoint = endPoint;
    }

    /// <summary>The endpoint as configured, for messages.</summary>
    public string Text { get; }

    /// <summary>The socket address.</summary>
    public EndPoint EndPoint { get; }

    /// <summary>Parses <paramref name="text"/>; null and a reason when it is not an endpoint.</summary>
    public static PolicyEndpoint? TryParse(string text, out string? problem)
    {
        problem = null;
        if (text.StartsWith("unix:", StringComparison.OrdinalIgnoreCase))
        {
            var path = text[5..];
            if (path.Length == 0 || path.Any(char.IsControl))
            {
                problem = "a unix endpoint needs a socket path (unix:/run/postgrey.sock)";
                return null;
            }

            return new PolicyEndpoint(text, new UnixDomainSocketEndPoint(path));
        }

        if (!text.StartsWith("inet:", StringComparison.OrdinalIgnoreCase))
        {
            problem = "an endpoint starts with inet: or unix:";
            return null;
        }

        var rest = text[5..];
        var colon = rest.LastIndexOf(':');
        if (colon <= 0)
        {
            problem = "an inet endpoint is inet:host:port";
            return null;
        }

        var host = rest[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        if (!int.TryParse(rest[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            problem = $"'{rest[(colon + 1)..]}' is not a port (1-65535)";
            return null;
        }

        if (IPAddress.TryParse(host, out var address))
        {
            return new PolicyEndpoint(text, new IPEndPoint(address, port));
        }

        if (host.Length == 0 || Uri.CheckHostName(host) != UriHostNameType.Dns)
        {
            problem = $"'{host}' is not a host name or address";
            return null;
        }

        return new PolicyEndpoint(text, new DnsEndPoint(host, port));
    }

    /// <summary>A new, unconnected socket for this endpoint.</summary>
    public Socket NewSocket() => EndPoint switch
    {
        UnixDomainSocketEndPoint => new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified),
        IPEndPoint ip => new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true },
        // A name may resolve to either family: a dual-mode socket connects to both.
        _ => new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true },
    };

    /// <inheritdoc />
    public override string ToString() => Text;
}
