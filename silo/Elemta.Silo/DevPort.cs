using System.Net;
using System.Net.Sockets;
using Elemta.Smtp.Server;

namespace Elemta.Silo;

/// <summary>
/// The SMTP port of <c>--dev</c> when none is given: 2525, or the first of 2526–2528 that is free, so a second
/// development instance (or anything else on 2525) does not stop the start. Production never guesses a port.
/// </summary>
internal static class DevPort
{
    public const int First = 2525;
    public const int Last = 2528;

    /// <summary>
    /// The first port of <see cref="First"/>..<see cref="Last"/> where every listen address can be bound the way the
    /// SMTP listener binds it; <see cref="PortsBusyException"/> when all are in use. The probe releases the port at once,
    /// so another process could still take it before the listener starts; the listener then reports that.
    /// </summary>
    public static int Choose(IReadOnlyList<string> listenAddresses)
    {
        for (var port = First; port <= Last; port++)
        {
            if (IsFree(port, listenAddresses))
            {
                return port;
            }
        }

        throw new PortsBusyException($"--dev: SMTP ports {First}-{Last} are all in use; free one or choose a port with --port");
    }

    private static bool IsFree(int port, IReadOnlyList<string> listenAddresses)
    {
        var sockets = new List<Socket>();
        try
        {
            if (listenAddresses.Count == 0)
            {
                sockets.Add(ListenSockets.BindAny(port, backlog: 1));
            }
            else
            {
                foreach (var address in listenAddresses)
                {
                    if (IPAddress.TryParse(address, out var ip))
                    {
                        sockets.Add(ListenSockets.Bind(new IPEndPoint(ip, port), backlog: 1));
                    }
                }
            }

            return true;
        }
        catch (SocketException ex) when (ex.SocketErrorCode == SocketError.AddressAlreadyInUse)
        {
            return false;
        }
        catch (SocketException)
        {
            // Not a busy port (e.g. an address this host does not have): the listener will report it with its own words.
            return true;
        }
        finally
        {
            foreach (var socket in sockets)
            {
                socket.Dispose();
            }
        }
    }
}

/// <summary>Every port <c>--dev</c> may use is taken.</summary>
public sealed class PortsBusyException : Exception
{
    /// <summary>Creates the exception.</summary>
    public PortsBusyException()
    {
    }

    /// <summary>Creates the exception with a one-line message for the operator.</summary>
    public PortsBusyException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a cause.</summary>
    public PortsBusyException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
