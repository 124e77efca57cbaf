using System.Net;
using System.Net.Sockets;

namespace Elemta.Testing;

/// <summary>
/// Finds currently unused loopback ports by binding port 0 on 127.0.0.1 and releasing it.
/// </summary>
/// <remarks>
/// The port is free when returned but another process may take it before the caller binds it.
/// Prefer binding port 0 directly (as <see cref="SmtpSink.Start"/> and
/// <see cref="LoopbackDnsServer.Start"/> do) and reading the chosen port back; use these helpers
/// only where a port number must be known before the listener exists (e.g. configuration).
/// </remarks>
public static class FreePort
{
    /// <summary>Returns a TCP port on 127.0.0.1 that was free at the time of the call.</summary>
    public static int GetTcpPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }

    /// <summary>Returns a UDP port on 127.0.0.1 that was free at the time of the call.</summary>
    public static int GetUdpPort()
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)socket.LocalEndPoint!).Port;
    }
}
