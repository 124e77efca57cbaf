using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Configuration;

namespace Elemta.Plugins.ClamAv;

/// <summary>What the plugin does with a message in which clamd found a virus.</summary>
public enum VirusResponse
{
    /// <summary>Refused: <c>554 5.7.1</c> naming the virus.</summary>
    Reject = 0,

    /// <summary>Quarantined (<see cref="HookDecision.Hold"/>), with <c>X-Virus-Status: Infected (&lt;name&gt;)</c>.</summary>
    Hold = 1,
}

/// <summary>What the plugin does when clamd refuses a message longer than its <c>StreamMaxLength</c>.</summary>
public enum SizeLimitResponse
{
    /// <summary>Refused for now: <c>451 4.7.1</c> (the client retries; a message that stays too long bounces at the client in the end).</summary>
    Defer = 0,

    /// <summary>Accepted unscanned, marked <c>X-Virus-Status: Unscanned, larger than clamd's StreamMaxLength</c>.</summary>
    Continue = 1,
}

/// <summary>The plugin's settings, read and checked once from <c>Elemta:Plugins:Items:ClamAV:Settings</c>.</summary>
internal sealed record ClamAvSettings(EndPoint EndPoint, string Address, TimeSpan Timeout, VirusResponse VirusAction, SizeLimitResponse SizeLimitAction)
{
    private const string Prefix = "Elemta:Plugins:Items:ClamAV:Settings:";

    /// <summary>Debian's clamd socket (clamd.conf's LocalSocket).</summary>
    public const string DefaultAddress = "/var/run/clamav/clamd.ctl";

    /// <summary>Reads the settings; a bad value throws with its key named, which stops the server's start.</summary>
    public static ClamAvSettings Read(IConfiguration settings)
    {
        var address = settings["Address"] ?? DefaultAddress;
        var endPoint = ParseAddress(address)
            ?? throw new InvalidOperationException(
                $"{Prefix}Address must be clamd's TCPSocket as host:port (e.g. 127.0.0.1:3310) or its LocalSocket as an absolute path (e.g. {DefaultAddress}), not '{address}'.");

        var timeout = TimeSpan.FromSeconds(4);
        if (settings["Timeout"] is { } timeoutText
            && (!TimeSpan.TryParse(timeoutText, CultureInfo.InvariantCulture, out timeout) || timeout <= TimeSpan.Zero || timeout > TimeSpan.FromMinutes(5)))
        {
            throw new InvalidOperationException($"{Prefix}Timeout must be a positive time span of at most 00:05:00, e.g. 00:00:04, not '{timeoutText}'.");
        }

        return new ClamAvSettings(endPoint, address, timeout,
            Choice(settings, "VirusAction", VirusResponse.Reject),
            Choice(settings, "SizeLimitAction", SizeLimitResponse.Defer));
    }

    private static EndPoint? ParseAddress(string address)
    {
        if (address.StartsWith('/'))
        {
            return new UnixDomainSocketEndPoint(address);
        }

        // [::1]:3310, 127.0.0.1:3310, clamav.internal:3310
        var colon = address.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(address.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            return null;
        }

        var host = address[..colon];
        if (host.StartsWith('[') && host.EndsWith(']'))
        {
            host = host[1..^1];
        }

        if (IPAddress.TryParse(host, out var ip))
        {
            return new IPEndPoint(ip, port);
        }

        return Uri.CheckHostName(host) == UriHostNameType.Dns ? new DnsEndPoint(host, port) : null;
    }

    private static T Choice<T>(IConfiguration settings, string key, T defaultValue) where T : struct, Enum
    {
        var text = settings[key];
        if (string.IsNullOrWhiteSpace(text))
        {
            return defaultValue;
        }

        // A name only: Enum.TryParse also takes numbers.
        return char.IsAsciiLetter(text[0]) && Enum.TryParse<T>(text, ignoreCase: true, out var value)
            ? value
            : throw new InvalidOperationException($"{Prefix}{key} must be one of {string.Join(", ", Enum.GetNames<T>())}, not '{text}'.");
    }
}
