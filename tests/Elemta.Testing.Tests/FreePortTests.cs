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

    [Fact]
    public void Ports_are_never_handed_out_twice_and_lie_below_the_ephemeral_range()
    {
        var ports = Enumerable.Range(0, 200).Select(_ => FreePort.GetTcpPort()).ToList();

        Assert.Equal(ports.Count, ports.Distinct().Count());
        var ephemeralStart = int.Parse(File.ReadAllText("/proc/sys/net/ipv4/ip_local_port_range").Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)[0], System.Globalization.CultureInfo.InvariantCulture);
        Assert.All(ports, p => Assert.InRange(p, 1, ephemeralStart - 1));
    }

    [Fact]
    public void A_port_in_use_is_skipped()
    {
        // Ports are handed out in sequence: a server listening on the one after the last must be passed by.
        var last = FreePort.GetTcpPort();
        var occupant = new TcpListener(IPAddress.Loopback, last + 1);
        occupant.Start();
        using var stop = new Disposable(occupant.Stop);

        Assert.NotEqual(last + 1, FreePort.GetTcpPort());
    }

    private sealed class Disposable(Action dispose) : IDisposable
    {
        public void Dispose() => dispose();
    }
}
