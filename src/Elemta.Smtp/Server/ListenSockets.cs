using System.Net;
using System.Net.Sockets;

namespace Elemta.Smtp.Server;

/// <summary>
/// Binds listening sockets the one way Elemta does, for the SMTP listener and for anything that must predict
/// whether the listener will be able to bind (the <c>--dev</c> port probe).
/// </summary>
public static class ListenSockets
{
    /// <summary>Binds <paramref name="port"/> on every address: dual-mode IPv6, or IPv4 only on a host without IPv6.</summary>
    public static Socket BindAny(int port, int backlog)
    {
        if (Socket.OSSupportsIPv6)
        {
            try
            {
                var socket = new Socket(AddressFamily.InterNetworkV6, SocketType.Stream, ProtocolType.Tcp) { DualMode = true };
                return Listen(socket, new IPEndPoint(IPAddress.IPv6Any, port), backlog);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.AddressFamilyNotSupported or SocketError.AddressNotAvailable)
            {
                // No IPv6 on this host: fall back to IPv4 only.
            }
        }

        return Bind(new IPEndPoint(IPAddress.Any, port), backlog);
    }

    /// <summary>Binds one endpoint.</summary>
    public static Socket Bind(IPEndPoint endPoint, int backlog)
    {
        ArgumentNullException.ThrowIfNull(endPoint);
        return Listen(new Socket(endPoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp), endPoint, backlog);
    }

    private static Socket Listen(Socket socket, IPEndPoint endPoint, int backlog)
    {
        try
        {
            AllowAddressReuse(socket);
            socket.Bind(endPoint);
            socket.Listen(backlog);
            return socket;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>
    /// SO_REUSEADDR alone, so that connections of an earlier run still in TIME_WAIT do not block a restart. Not
    /// <see cref="SocketOptionName.ReuseAddress"/>: on Linux and macOS .NET sets SO_REUSEPORT with it, and a second
    /// Elemta on the same port would then silently share the connections instead of failing to start.
    /// </summary>
    private static void AllowAddressReuse(Socket socket)
    {
        if (OperatingSystem.IsLinux())
        {
            socket.SetRawSocketOption(1, 2, BitConverter.GetBytes(1)); // SOL_SOCKET, SO_REUSEADDR
        }
        else if (OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD())
        {
            socket.SetRawSocketOption(0xffff, 4, BitConverter.GetBytes(1)); // SOL_SOCKET, SO_REUSEADDR
        }
        else
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        }
    }
}
