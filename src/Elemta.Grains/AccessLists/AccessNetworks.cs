using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Elemta.Grains;

/// <summary>
/// Access-list networks in CIDR form: parses what an operator types and gives the one normalised spelling the list
/// stores, so <c>192.0.2.0/24</c> and <c>192.0.2.000/24</c> are one entry.
/// </summary>
/// <remarks>
/// A network with host bits set (<c>192.0.2.7/24</c>) is refused, naming the network it would cover, rather than
/// silently widened: the operator may have meant the single address, as Postfix's cidr tables refuse it too.
/// IPv4-mapped IPv6 networks (<c>::ffff:192.0.2.0/120</c>) are refused in favour of their IPv4 form, which is how a
/// client's address is matched.
/// </remarks>
public static class AccessNetworks
{
    /// <summary>Parses <paramref name="input"/>; on success <paramref name="normalised"/> is its CIDR form, else <paramref name="error"/> says why.</summary>
    public static bool TryNormalise(string? input, out string normalised, out string error)
    {
        normalised = string.Empty;
        error = string.Empty;
        var text = input?.Trim() ?? string.Empty;
        if (text.Length == 0)
        {
            error = "network is required: an IPv4 or IPv6 address or network in CIDR form, e.g. 192.0.2.0/24 or 2001:db8::/32.";
            return false;
        }

        var slash = text.IndexOf('/', StringComparison.Ordinal);
        var addressText = slash < 0 ? text : text[..slash];
        if (addressText.Contains('%', StringComparison.Ordinal) || !IPAddress.TryParse(addressText, out var address)
            || address.AddressFamily is not (AddressFamily.InterNetwork or AddressFamily.InterNetworkV6)
            // IPAddress.TryParse takes "1" or "1.2" as IPv4 shorthand: an operator means four octets.
            || (address.AddressFamily == AddressFamily.InterNetwork && addressText.Count(c => c == '.') != 3))
        {
            error = $"network '{text}' is not an IPv4 or IPv6 address or network in CIDR form, e.g. 192.0.2.0/24 or 2001:db8::/32.";
            return false;
        }

        var bits = address.AddressFamily == AddressFamily.InterNetwork ? 32 : 128;
        var prefix = bits;
        if (slash >= 0 && (!int.TryParse(text.AsSpan(slash + 1), NumberStyles.None, CultureInfo.InvariantCulture, out prefix) || prefix > bits))
        {
            error = $"network '{text}' has a bad prefix length: it must be 0-{bits} for an IPv{(bits == 32 ? 4 : 6)} network.";
            return false;
        }

        if (address.IsIPv4MappedToIPv6)
        {
            error = $"network '{text}' is IPv4-mapped IPv6: write it in IPv4 form (clients are matched by their IPv4 address).";
            return false;
        }

        var bytes = address.GetAddressBytes();
        var masked = Mask(bytes, prefix);
        var network = new IPAddress(masked);
        if (!bytes.AsSpan().SequenceEqual(masked))
        {
            error = string.Create(CultureInfo.InvariantCulture, $"network '{text}' has host bits set: the network is {network}/{prefix}, or give the single address as {address}/{bits}.");
            return false;
        }

        normalised = string.Create(CultureInfo.InvariantCulture, $"{network}/{prefix}");
        return true;
    }

    /// <summary>Orders entries by family (IPv4 first), network address, then prefix length: a stable listing.</summary>
    public static int Compare(string x, string y)
    {
        var a = IPNetwork.Parse(x);
        var b = IPNetwork.Parse(y);
        var family = a.BaseAddress.AddressFamily.CompareTo(b.BaseAddress.AddressFamily);
        if (family != 0)
        {
            return family;
        }

        var bytes = a.BaseAddress.GetAddressBytes().AsSpan().SequenceCompareTo(b.BaseAddress.GetAddressBytes());
        return bytes != 0 ? bytes : a.PrefixLength.CompareTo(b.PrefixLength);
    }

    private static byte[] Mask(byte[] bytes, int prefix)
    {
        var masked = (byte[])bytes.Clone();
        for (var bit = prefix; bit < masked.Length * 8; bit++)
        {
            masked[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        }

        return masked;
    }
}
