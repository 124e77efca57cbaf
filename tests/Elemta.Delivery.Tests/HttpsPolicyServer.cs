using System.Collections.Concurrent;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace Elemta.Delivery.Tests;

/// <summary>
/// A minimal HTTPS/1.1 server on a loopback address that serves one document (an MTA-STS policy) to any GET and
/// records the requests, so tests see the real TLS handshake, Host header and path of the fetch.
/// </summary>
internal sealed class HttpsPolicyServer : IAsyncDisposable
{
    private readonly TcpListener _listener;
    private readonly X509Certificate2 _certificate;
    private readonly CancellationTokenSource _shutdown = new();
    private readonly ConcurrentQueue<(string Host, string Path)> _requests = new();
    private readonly Task _acceptLoop;

    public HttpsPolicyServer(IPAddress address, X509Certificate2 certificate)
    {
        _certificate = certificate;
        _listener = new TcpListener(address, 0);
        _listener.Start();
        EndPoint = (IPEndPoint)_listener.LocalEndpoint;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public IPEndPoint EndPoint { get; }

    /// <summary>The body served; change it to publish a new policy.</summary>
    public string Body { get; set; } = string.Empty;

    public string ContentType { get; set; } = "text/plain";

    public int StatusCode { get; set; } = 200;

    /// <summary>Requests received (over a TLS session the client accepted), with their Host header and path.</summary>
    public IReadOnlyList<(string Host, string Path)> Requests => [.. _requests];

    public async ValueTask DisposeAsync()
    {
        await _shutdown.CancelAsync();
        _listener.Stop();
        await _acceptLoop;
        _shutdown.Dispose();
    }

    private async Task AcceptLoopAsync()
    {
        while (!_shutdown.IsCancellationRequested)
        {
            Socket socket;
            try
            {
                socket = await _listener.AcceptSocketAsync(_shutdown.Token);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }

            _ = ServeAsync(socket);
        }
    }

    private async Task ServeAsync(Socket socket)
    {
        try
        {
            await using var tls = new SslStream(new NetworkStream(socket, ownsSocket: true));
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions { ServerCertificate = _certificate }, _shutdown.Token);
            using var reader = new StreamReader(tls, Encoding.ASCII, leaveOpen: true);
            // With TLS 1.3 the server's handshake ends before the client has judged the certificate: a client that
            // refused it closes without a request, which is not a request.
            if (await reader.ReadLineAsync(_shutdown.Token) is not { Length: > 0 } requestLine)
            {
                return;
            }

            var host = string.Empty;
            while (await reader.ReadLineAsync(_shutdown.Token) is { Length: > 0 } header)
            {
                if (header.StartsWith("Host:", StringComparison.OrdinalIgnoreCase))
                {
                    host = header[5..].Trim();
                }
            }

            var parts = requestLine.Split(' ');
            _requests.Enqueue((host, parts.Length > 1 ? parts[1] : string.Empty));
            var body = Encoding.UTF8.GetBytes(Body);
            var head = $"HTTP/1.1 {StatusCode} X\r\nContent-Type: {ContentType}\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n";
            await tls.WriteAsync(Encoding.ASCII.GetBytes(head), _shutdown.Token);
            await tls.WriteAsync(body, _shutdown.Token);
            await tls.FlushAsync(_shutdown.Token);
        }
        catch (Exception ex) when (ex is IOException or SocketException or OperationCanceledException or ObjectDisposedException
                                       or System.Security.Authentication.AuthenticationException)
        {
            // The client refused the certificate or went away; that is what some tests are about.
        }
    }
}
