using System.Net;
using System.Net.Sockets;

namespace Elemta.Testing;

/// <summary>
/// A loopback TCP endpoint that refuses every connection for as long as the returned socket lives.
/// </summary>
/// <remarks>
/// A port merely found free (<see cref="FreePort"/>) can be taken by another test's listener a moment later, and then a
/// "dead" destination suddenly accepts mail. A socket that is bound but never listens keeps the port for itself, and
/// the kernel answers every connection attempt to it with a reset.
/// </remarks>
public static class RefusingEndPoint
{
    /// <summary>Binds <paramref name="address"/>:<paramref name="port"/> (0 for any free port) without listening.</summary>
    public static Socket Bind(IPAddress address, int port = 0)
    {
        var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(address, port));
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>The port a socket from <see cref="Bind"/> holds.</summary>
    public static int PortOf(Socket socket) => ((IPEndPoint)socket.LocalEndPoint!).Port;
}
