using System.Collections.Concurrent;
using System.IO.Pipelines;
using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp.Server;

/// <summary>
/// Accepts SMTP connections and runs one <see cref="SmtpSession"/> per connection as a task (no thread per
/// connection). Binds in <see cref="StartAsync"/> so that a port in use stops the host with a clear error.
/// </summary>
internal sealed partial class SmtpListener(
    SmtpServerContext context,
    SmtpListenerStatus status,
    IOptions<SmtpServerOptions> options,
    ILogger<SmtpListener> logger) : IHostedService, IAsyncDisposable
{
    private const int Backlog = 512;
    private readonly List<Socket> _sockets = [];
    private readonly List<Socket> _tlsSockets = [];
    private readonly List<Socket> _submissionSockets = [];
    private readonly ConcurrentDictionary<Task, bool> _sessions = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<Task> _acceptLoops = [];

    /// <summary>The endpoints actually bound (port 0 resolved), for logs and tests.</summary>
    public IReadOnlyList<IPEndPoint> EndPoints => [.. _sockets.Select(s => (IPEndPoint)s.LocalEndPoint!)];

    public Task StartAsync(CancellationToken cancellationToken)
    {
        var smtp = options.Value;
        if (context.Options.RequireTls && !context.Certificate.IsAvailable)
        {
            throw new InvalidOperationException("Elemta:Smtp:RequireTls needs TLS: set Elemta:Smtp:Tls:CertificatePath, or leave Elemta:Smtp:Tls:Disabled off for a self-signed certificate.");
        }

        if (context.Certificate.SelfSignedIn is { } selfSigned)
        {
            LogSelfSigned(context.HostName, selfSigned);
        }
        else if (!context.Certificate.IsAvailable)
        {
            LogNoTls();
        }

        BindAll(smtp.Port, _sockets);
        if (smtp.ImplicitTlsPort is > 0 and var tlsPort)
        {
            if (!context.Certificate.IsAvailable)
            {
                throw new InvalidOperationException("Elemta:Smtp:ImplicitTlsPort needs a certificate: set Elemta:Smtp:Tls:CertificatePath.");
            }

            BindAll(tlsPort, _tlsSockets);
        }

        if (smtp.SubmissionPort is > 0 and var submissionPort)
        {
            BindAll(submissionPort, _submissionSockets);
        }

        // Bound: the readiness check may now say so, and the certificate's expiry can be watched.
        status.EndPoints = [.. _sockets.Concat(_tlsSockets).Concat(_submissionSockets).Select(s => (IPEndPoint)s.LocalEndPoint!)];
        Observability.SmtpMetrics.ObserveCertificateExpiry(() => context.Certificate.NotAfter);
        foreach (var socket in _sockets)
        {
            LogListening((IPEndPoint)socket.LocalEndPoint!);
            _acceptLoops.Add(AcceptLoopAsync(socket, implicitTls: false, submission: false));
        }

        foreach (var socket in _tlsSockets)
        {
            LogListeningTls((IPEndPoint)socket.LocalEndPoint!);
            _acceptLoops.Add(AcceptLoopAsync(socket, implicitTls: true, submission: false));
        }

        foreach (var socket in _submissionSockets)
        {
            LogListeningSubmission((IPEndPoint)socket.LocalEndPoint!);
            _acceptLoops.Add(AcceptLoopAsync(socket, implicitTls: false, submission: true));
        }

        return Task.CompletedTask;
    }

    /// <summary>The implicit-TLS endpoints actually bound, empty when there is no implicit-TLS port.</summary>
    public IReadOnlyList<IPEndPoint> ImplicitTlsEndPoints => [.. _tlsSockets.Select(s => (IPEndPoint)s.LocalEndPoint!)];

    /// <summary>The submission endpoints actually bound, empty when there is no submission port.</summary>
    public IReadOnlyList<IPEndPoint> SubmissionEndPoints => [.. _submissionSockets.Select(s => (IPEndPoint)s.LocalEndPoint!)];

    private void BindAll(int port, List<Socket> into)
    {
        var addresses = options.Value.ListenAddresses;
        try
        {
            if (addresses.Count == 0)
            {
                into.Add(ListenSockets.BindAny(port, Backlog));
                return;
            }

            foreach (var address in addresses)
            {
                if (!IPAddress.TryParse(address, out var ip))
                {
                    throw new InvalidOperationException($"Elemta:Smtp:ListenAddresses entry '{address}' is not an IP address.");
                }

                into.Add(ListenSockets.Bind(new IPEndPoint(ip, port), Backlog));
            }
        }
        catch (SocketException ex)
        {
            foreach (var socket in _sockets.Concat(_tlsSockets).Concat(_submissionSockets))
            {
                socket.Dispose();
            }

            throw new InvalidOperationException($"SMTP cannot listen on port {port}: {ex.Message}. Choose another with --port or Elemta:Smtp:Port.", ex);
        }
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        status.EndPoints = [];
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (var socket in _sockets.Concat(_tlsSockets).Concat(_submissionSockets))
        {
            socket.Dispose();
        }

        // Sessions answer 421 and end; a message whose DATA is being accepted finishes first.
        await Task.WhenAll(_acceptLoops.Concat(_sessions.Keys)).WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    private async Task AcceptLoopAsync(Socket listener, bool implicitTls, bool submission)
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException
                                       || (ex is SocketException { SocketErrorCode: SocketError.OperationAborted or SocketError.Interrupted })
                                       || _stopping.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException ex)
            {
                // Transient accept failures (e.g. out of descriptors) must not end the listener.
                LogAcceptFailed(ex.Message);
                continue;
            }

            var session = RunSessionAsync(client, implicitTls, submission);
            _sessions.TryAdd(session, true);
            _ = session.ContinueWith(static (t, state) => ((ConcurrentDictionary<Task, bool>)state!).TryRemove(t, out _), _sessions, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    private async Task RunSessionAsync(Socket client, bool implicitTls, bool submission)
    {
        await Task.Yield();
        client.NoDelay = true;
        var remote = (IPEndPoint)client.RemoteEndPoint!;
        var stream = new NetworkStream(client, ownsSocket: true);
        Observability.SmtpMetrics.ConnectionOpened();
        await using (stream.ConfigureAwait(false))
        {
            try
            {
                var session = new SmtpSession(stream, implicitTls, submission, remote, context, logger, _stopping.Token);
                await session.RunAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                LogSessionFailed(remote, ex);
            }
            finally
            {
                Observability.SmtpMetrics.ConnectionClosed();
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        _stopping.Dispose();
        foreach (var socket in _sockets.Concat(_tlsSockets).Concat(_submissionSockets))
        {
            socket.Dispose();
        }

        return ValueTask.CompletedTask;
    }

    [LoggerMessage(EventId = 1120, Level = LogLevel.Warning, Message = "STARTTLS uses a self-signed certificate for {HostName} (kept in {Directory}), which clients cannot verify: set Elemta:Smtp:Tls:CertificatePath and KeyPath to a certificate for this host name (e.g. from an ACME client such as certbot)")]
    private partial void LogSelfSigned(string hostName, string directory);

    [LoggerMessage(EventId = 1121, Level = LogLevel.Warning, Message = "No TLS certificate (Elemta:Smtp:Tls: Disabled, or no certificate source): no STARTTLS is offered and mail to this server travels in clear text")]
    private partial void LogNoTls();

    [LoggerMessage(Level = LogLevel.Information, Message = "SMTP listening on {EndPoint}")]
    private partial void LogListening(IPEndPoint endPoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "SMTP (implicit TLS) listening on {EndPoint}")]
    private partial void LogListeningTls(IPEndPoint endPoint);

    [LoggerMessage(Level = LogLevel.Information, Message = "SMTP submission (RFC 6409) listening on {EndPoint}")]
    private partial void LogListeningSubmission(IPEndPoint endPoint);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Accepting an SMTP connection failed: {Reason}")]
    private partial void LogAcceptFailed(string reason);

    [LoggerMessage(Level = LogLevel.Error, Message = "SMTP session with {Client} failed")]
    private partial void LogSessionFailed(IPEndPoint client, Exception exception);
}
