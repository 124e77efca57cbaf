using System.Globalization;
using System.Net;

namespace Elemta.Delivery;

/// <summary>Parses the <c>host:port</c> forms used in configuration.</summary>
public static class Endpoints
{
    /// <summary>
    /// Parses <c>host</c>, <c>host:port</c>, <c>1.2.3.4:port</c> or <c>[v6]:port</c>. Returns false with a reason for anything else.
    /// </summary>
    public static bool TryParseHostPort(string value, int defaultPort, out string host, out int port, out string? error)
    {
        host = string.Empty;
        port = defaultPort;
        error = null;
        var text = value?.Trim() ?? string.Empty;
        if (text.Length == 0)
        {
            error = "is empty";
            return false;
        }

        // Null when no ':' introduces a port; empty when one does but nothing follows it ("host:"), which is an error.
        string? portText = null;
        if (text[0] == '[')
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0)
            {
                error = "has '[' without ']'";
                return false;
            }

            host = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length > 0)
            {
                if (rest[0] != ':')
                {
                    error = "has text after ']' that is not ':port'";
                    return false;
                }

                portText = rest[1..];
            }
        }
        else
        {
            var colon = text.LastIndexOf(':');
            if (colon >= 0 && text.IndexOf(':', StringComparison.Ordinal) != colon)
            {
                error = "is an IPv6 address without brackets; write [address]:port";
                return false;
            }

            host = colon >= 0 ? text[..colon] : text;
            portText = colon >= 0 ? text[(colon + 1)..] : null;
        }

        if (host.Length == 0)
        {
            error = "has no host";
            return false;
        }

        if (portText is not null && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 1 or > 65535))
        {
            error = $"has an invalid port '{portText}'";
            return false;
        }

        return true;
    }

    /// <summary>Parses a name server address, which must be an IP literal (a resolver cannot be found by name).</summary>
    public static bool TryParseNameServer(string value, out IPEndPoint? endPoint, out string? error)
    {
        endPoint = null;
        if (!TryParseHostPort(value, 53, out var host, out var port, out error))
        {
            return false;
        }

        if (!IPAddress.TryParse(host, out var address))
        {
            error = $"'{host}' is not an IP address";
            return false;
        }

        endPoint = new IPEndPoint(address, port);
        return true;
    }
}
