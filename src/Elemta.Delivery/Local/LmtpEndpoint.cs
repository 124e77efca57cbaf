using System.Net;
using System.Net.Sockets;

namespace Elemta.Delivery.Local;

/// <summary>Where an LMTP server listens: a TCP host and port, or a Unix socket path.</summary>
/// <param name="Host">Host name or IP address; null for a Unix socket.</param>
/// <param name="Port">TCP port; 0 for a Unix socket.</param>
/// <param name="SocketPath">Unix socket path; null for TCP.</param>
internal sealed record LmtpEndpoint(string? Host, int Port, string? SocketPath)
{
    /// <summary>
    /// The port when none is given. LMTP has no assigned port (RFC 2033 §5 forbids 25); 24 ("any private mail
    /// system") is what Dovecot, Cyrus and Postfix documentation use.
    /// </summary>
    public const int DefaultPort = 24;

    private const string UnixPrefix = "unix:";

    /// <summary>Parses <c>host:port</c>, <c>[v6]:port</c> or <c>unix:/absolute/path</c>; false with a reason otherwise.</summary>
    public static bool TryParse(string? value, out LmtpEndpoint? endpoint, out string? error)
    {
        endpoint = null;
        var text = value?.Trim() ?? string.Empty;
        if (text.StartsWith(UnixPrefix, StringComparison.OrdinalIgnoreCase))
        {
            var path = text[UnixPrefix.Length..];
            if (!Path.IsPathFullyQualified(path))
            {
                error = $"must name an absolute socket path after 'unix:' (is '{text}')";
                return false;
            }

            endpoint = new LmtpEndpoint(null, 0, path);
            error = null;
            return true;
        }

        if (!Endpoints.TryParseHostPort(text, DefaultPort, out var host, out var port, out error))
        {
            error = $"{error}; write host:port or unix:/path (is '{text}')";
            return false;
        }

        endpoint = new LmtpEndpoint(host, port, null);
        return true;
    }

    /// <summary>The socket address to connect to (a Unix socket or an IP literal), or null when <see cref="Host"/> is a name.</summary>
    public EndPoint? ToEndPoint() => SocketPath is not null
        ? new UnixDomainSocketEndPoint(SocketPath)
        : IPAddress.TryParse(Host, out var address) ? new IPEndPoint(address, Port) : null;

    /// <inheritdoc />
    public override string ToString() => SocketPath is not null
        ? UnixPrefix + SocketPath
        : Host!.Contains(':', StringComparison.Ordinal) ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}
