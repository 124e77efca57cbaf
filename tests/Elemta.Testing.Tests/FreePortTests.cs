using System.Net;
using System.Net.Sockets;

namespace Elemta.Testing.Tests;

public sealed class FreePortTests
{
    [Fact]
    public void Tcp_port_can_be_bound_on_loopback()
    {
        var port = FreePort.GetTcpPort();

        var listener = new TcpListener(IPAddress.Loopback, port);
        listener.Start();
        listener.Stop();
        Assert.InRange(port, 1, IPEndPoint.MaxPort);
    }

    [Fact]
    public void Udp_port_can_be_bound_on_loopback()
    {
        var port = FreePort.GetUdpPort();

        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
        Assert.InRange(port, 1, IPEndPoint.MaxPort);
    }
}
