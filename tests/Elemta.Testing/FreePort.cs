using System.Globalization;
using System.Net;
using System.Net.Sockets;

namespace Elemta.Testing;

/// <summary>
/// Finds currently unused loopback ports for listeners whose port must be known before they start (a silo's
/// configuration, PostgreSQL's, Dovecot's).
/// </summary>
/// <remarks>
/// <para>Ports come from below the kernel's ephemeral range (<c>ip_local_port_range</c>), never from it: a port
/// picked by binding port 0 is an ephemeral one, and while a test starts the process that will listen on it, any
/// outgoing connection on the machine (a delivery, a client, another test) can be given the same port, and the
/// listener then fails with "address in use". Binding port 0 twice can even return the same port twice. So each
/// process walks its own stretch of the range below the ephemeral one, from a random start, and hands out a port only
/// after binding it once to see that it is free; within a process no port is handed out twice.</para>
/// <para>Prefer binding port 0 directly (as <see cref="SmtpSink.Start"/> and <see cref="LoopbackDnsServer.Start"/>
/// do) and reading the chosen port back where the listener is in the test's own process.</para>
/// </remarks>
public static class FreePort
{
    private static readonly (int First, int Last) Range = NonEphemeralRange();
    private static int _next = Range.First + Random.Shared.Next(Range.Last - Range.First + 1);

    /// <summary>Returns a TCP port on 127.0.0.1 that was free at the time of the call.</summary>
    public static int GetTcpPort() => Take(SocketType.Stream, ProtocolType.Tcp);

    /// <summary>Returns a UDP port on 127.0.0.1 that was free at the time of the call.</summary>
    public static int GetUdpPort() => Take(SocketType.Dgram, ProtocolType.Udp);

    private static int Take(SocketType type, ProtocolType protocol)
    {
        var span = Range.Last - Range.First + 1;
        for (var attempt = 0; attempt < span; attempt++)
        {
            var port = Range.First + (int)((uint)Interlocked.Increment(ref _next) % (uint)span);
            if (IsFree(port, type, protocol))
            {
                return port;
            }
        }

        throw new InvalidOperationException($"No free loopback port between {Range.First} and {Range.Last}.");
    }

    private static bool IsFree(int port, SocketType type, ProtocolType protocol)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, type, protocol);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The ports from 10000 up to just below the ephemeral range (Linux's default starts at 32768).</summary>
    private static (int First, int Last) NonEphemeralRange()
    {
        var ephemeralStart = 32768;
        try
        {
            var text = File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries);
            ephemeralStart = int.Parse(text[0], CultureInfo.InvariantCulture);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            // Not Linux, or no procfs: keep the default.
        }

        return ephemeralStart > 12000 ? (10000, ephemeralStart - 1) : (ephemeralStart / 2, ephemeralStart - 1);
    }
}
