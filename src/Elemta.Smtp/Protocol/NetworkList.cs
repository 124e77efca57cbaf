using System.Net;

namespace Elemta.Smtp.Protocol;

/// <summary>A list of CIDR networks (<c>127.0.0.0/8</c>, <c>::1/128</c>) with a membership test.</summary>
internal sealed class NetworkList
{
    private readonly List<IPNetwork> _networks = [];

    public NetworkList(IEnumerable<string> cidrs)
    {
        foreach (var cidr in cidrs)
        {
            if (!IPNetwork.TryParse(cidr.Contains('/', StringComparison.Ordinal) ? cidr : cidr + (cidr.Contains(':', StringComparison.Ordinal) ? "/128" : "/32"), out var network))
            {
                throw new FormatException($"'{cidr}' is not a network in CIDR form such as 192.0.2.0/24.");
            }

            _networks.Add(network);
        }
    }

    public bool Contains(IPAddress address)
    {
        var candidate = address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;
        foreach (var network in _networks)
        {
            if (network.Contains(candidate))
            {
                return true;
            }
        }

        return false;
    }
}
