using System.Net;
using System.Net.Sockets;
using MailKit;
using MailKit.Net.Smtp;

namespace Elemta.Delivery.Smtp;

/// <summary>
/// Where a connection leads, and on what terms. The host name is part of the key, not only the address: it is the
/// name the session was opened for (TLS server name), so two MX names on one address get separate sessions. The TLS
/// policy is part of it too: a session opened opportunistically (perhaps in plaintext, perhaps with a certificate
/// nobody checked) must never carry a message whose policy demands more.
/// </summary>
/// <param name="Host">The MX (or route) host name.</param>
/// <param name="Address">The address connected to.</param>
/// <param name="Port">The TCP port.</param>
/// <param name="Tls">The TLS policy the session was opened under.</param>
/// <param name="Dane">The TLSA records the certificate matched (<see cref="Tls.DaneRecords.Key"/>), or null without DANE.</param>
/// <param name="Relay">The relay the session authenticated to, or null: an authenticated session never carries other mail.</param>
internal readonly record struct SmtpDestination(string Host, IPAddress Address, int Port, Tls.TlsPolicy Tls = Tls.TlsPolicy.Opportunistic, string? Dane = null, string? Relay = null)
{
    /// <summary>For logs and <see cref="Elemta.Contracts.DeliveryAttempt.RemoteHost"/>: <c>name[address]:port</c>.</summary>
    public override string ToString() => $"{Host}[{Address}]:{Port}";
}

/// <summary>
/// An open SMTP session after EHLO (and STARTTLS when offered), owned by one delivery at a time or idle in
/// <see cref="SmtpConnectionPool"/>.
/// </summary>
internal sealed class SmtpConnection(SmtpDestination destination, RecordingSmtpClient client, Socket socket) : IDisposable
{
    public SmtpDestination Destination { get; } = destination;

    public RecordingSmtpClient Client { get; } = client;

    /// <summary>The session's TLS as reported in <see cref="Elemta.Contracts.DeliveryAttempt.Tls"/>, fixed at STARTTLS.</summary>
    public string TlsDescription { get; init; } = "none";

    /// <summary>The address and port connected to, as reported in <see cref="Elemta.Contracts.DeliveryAttempt.RemoteAddress"/>.</summary>
    public string RemoteAddress => new IPEndPoint(Destination.Address, Destination.Port).ToString();

    /// <summary>Transactions completed on this session; <see cref="DeliveryOptions.MaxMessagesPerConnection"/> bounds it.</summary>
    public int Messages { get; set; }

    /// <summary>When the session was last put back in the pool.</summary>
    public DateTimeOffset IdleSince { get; set; }

    /// <summary>
    /// Whether an idle session can carry another transaction. MailKit's <see cref="MailService.IsConnected"/> only
    /// knows what MailKit itself saw, so the socket is polled too: an idle SMTP session has nothing to read, and
    /// a readable socket means the server closed it (FIN or RST) or spoke unasked (typically <c>421</c> before
    /// closing on its own idle timeout). Either way the session is not clean. The poll is one non-blocking
    /// system call, far cheaper than a NOOP round trip.
    /// </summary>
    public bool IsAlive
    {
        get
        {
            try
            {
                return Client.IsConnected && !socket.Poll(0, SelectMode.SelectRead);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                return false;
            }
        }
    }

    /// <summary>Ends the session politely (QUIT) and releases it; never throws for a network failure.</summary>
    /// <param name="timeout">Bounds the wait for the server's reply to QUIT.</param>
    /// <param name="timeProvider">The clock of <paramref name="timeout"/>.</param>
    public async Task QuitAsync(TimeSpan timeout, TimeProvider timeProvider)
    {
        try
        {
            if (Client.IsConnected)
            {
                using var cancel = new CancellationTokenSource(timeout, timeProvider);
                await Client.DisconnectAsync(quit: true, cancel.Token).ConfigureAwait(false);
            }
        }
        catch (Exception ex) when (ex is IOException or SmtpProtocolException or SmtpCommandException or SocketException
                                       or OperationCanceledException or ServiceNotConnectedException or ObjectDisposedException)
        {
            // The messages on this session are already accepted or refused; a failed QUIT changes nothing.
        }
        finally
        {
            Client.Dispose();
        }
    }

    /// <summary>Drops the session without QUIT: for a session that is broken or in an unknown state.</summary>
    public void Dispose() => Client.Dispose();
}
