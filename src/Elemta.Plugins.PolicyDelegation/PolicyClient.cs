using System.Net.Sockets;
using System.Text;

namespace Elemta.Plugins.PolicyDelegation;

/// <summary>A policy server could not be asked, or did not answer with a valid reply.</summary>
public sealed class PolicyServerException : IOException
{
    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed, naming the endpoint.</param>
    /// <param name="innerException">The cause, if any.</param>
    public PolicyServerException(string message, Exception? innerException = null)
        : base(message, innerException)
    {
    }

    /// <summary>Creates the exception without a message.</summary>
    public PolicyServerException()
    {
    }

    /// <summary>Creates the exception.</summary>
    /// <param name="message">What failed.</param>
    public PolicyServerException(string message)
        : base(message)
    {
    }
}

/// <summary>
/// Asks a policy server over a small pool of open connections, as Postfix's smtpd keeps its policy connection open
/// between requests: one connection serves one request at a time, idle ones wait in the pool (at most
/// <c>PoolSize</c>, closed after <c>MaxIdle</c>), and a request that finds its pooled connection closed by the server
/// (end of stream before any reply) is sent once more on a new connection.
/// </summary>
internal sealed class PolicyClient : IAsyncDisposable
{
    /// <summary>The longest reply line accepted (Postfix limits attribute values to a few kilobytes as well).</summary>
    private const int MaxLine = 8192;

    private readonly PolicySettings _settings;
    private readonly TimeProvider _time;
    private readonly Stack<(PolicyConnection Connection, long IdleSince)> _idle = new();
    private readonly Lock _gate = new();
    private bool _disposed;

    public PolicyClient(PolicySettings settings, TimeProvider time)
    {
        _settings = settings;
        _time = time;
    }

    /// <summary>Sends one request (attribute lines; the empty line is added) and returns the reply's action.</summary>
    /// <exception cref="PolicyServerException">The server is unreachable, did not answer within the timeout, closed the connection, or sent a malformed reply.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled (the plugin's time budget).</exception>
    public async Task<string> AskAsync(IReadOnlyList<KeyValuePair<string, string>> attributes, CancellationToken cancellationToken)
    {
        var request = Encode(attributes);
        using var timeout = new CancellationTokenSource(_settings.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, timeout.Token);
        var token = linked.Token;
        while (true)
        {
            var connection = TakeIdle();
            var reused = connection is not null;
            try
            {
                connection ??= await ConnectAsync(token).ConfigureAwait(false);
                var action = await connection.ExchangeAsync(request, _settings.Endpoint, token).ConfigureAwait(false);
                Return(connection);
                return action;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                connection?.Dispose();
                throw;
            }
            catch (OperationCanceledException ex)
            {
                connection?.Dispose();
                throw new PolicyServerException($"policy server {_settings.Endpoint}: no answer within {_settings.Timeout} (its Timeout setting)", ex);
            }
            catch (PolicyServerException)
            {
                connection?.Dispose();
                throw;
            }
            catch (Exception ex) when (reused && ex is ConnectionClosedException or IOException or SocketException)
            {
                // The server closed an idle connection (its own idle timeout, a restart) and the request found it
                // closed before any byte of a reply: Postfix tries again too, on a new connection (the loop ends
                // at the first connection that is not a pooled one).
                connection!.Dispose();
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                connection?.Dispose();
                throw new PolicyServerException(ex is ConnectionClosedException ? ex.Message : $"policy server {_settings.Endpoint}: {ex.Message}", ex);
            }
            catch
            {
                connection?.Dispose();
                throw;
            }
        }
    }

    private static byte[] Encode(IReadOnlyList<KeyValuePair<string, string>> attributes)
    {
        var builder = new StringBuilder(512);
        foreach (var (name, value) in attributes)
        {
            // A value with a line break would end the attribute early and inject others; SMTP data never has one,
            // but a HELO name or address is the client's text, so it is cut rather than trusted.
            builder.Append(name).Append('=').Append(value.ReplaceLineEndings(" ").Replace('\n', ' ')).Append('\n');
        }

        builder.Append('\n');
        return Encoding.UTF8.GetBytes(builder.ToString());
    }

    private async Task<PolicyConnection> ConnectAsync(CancellationToken cancellationToken)
    {
        var socket = _settings.Endpoint.NewSocket();
        try
        {
            await socket.ConnectAsync(_settings.Endpoint.EndPoint, cancellationToken).ConfigureAwait(false);
        }
        catch (SocketException ex)
        {
            socket.Dispose();
            throw new PolicyServerException($"policy server {_settings.Endpoint} is unreachable: {ex.Message}", ex);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new PolicyConnection(socket);
    }

    private PolicyConnection? TakeIdle()
    {
        lock (_gate)
        {
            while (_idle.TryPop(out var entry))
            {
                if (_time.GetElapsedTime(entry.IdleSince) < _settings.MaxIdle && entry.Connection.LooksOpen())
                {
                    return entry.Connection;
                }

                entry.Connection.Dispose();
            }
        }

        return null;
    }

    private void Return(PolicyConnection connection)
    {
        lock (_gate)
        {
            if (!_disposed && _idle.Count < _settings.PoolSize)
            {
                _idle.Push((connection, _time.GetTimestamp()));
                return;
            }
        }

        connection.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        lock (_gate)
        {
            _disposed = true;
            while (_idle.TryPop(out var entry))
            {
                entry.Connection.Dispose();
            }
        }

        return default;
    }

    /// <summary>The server closed the connection before a complete reply.</summary>
    private sealed class ConnectionClosedException(string message) : IOException(message);

    /// <summary>One open connection to the policy server, used by one request at a time.</summary>
    private sealed class PolicyConnection(Socket socket) : IDisposable
    {
        private readonly NetworkStream _stream = new(socket, ownsSocket: true);
        private readonly byte[] _buffer = new byte[MaxLine + 2];
        private int _start;
        private int _end;

        /// <summary>Whether the idle connection is still open and has nothing unread (a closed one reads as readable).</summary>
        public bool LooksOpen()
        {
            try
            {
                return !socket.Poll(0, SelectMode.SelectRead) && _start == _end;
            }
            catch (SocketException)
            {
                return false;
            }
            catch (ObjectDisposedException)
            {
                return false;
            }
        }

        public async Task<string> ExchangeAsync(byte[] request, PolicyEndpoint endpoint, CancellationToken cancellationToken)
        {
            await _stream.WriteAsync(request, cancellationToken).ConfigureAwait(false);
            string? action = null;
            var lines = 0;
            while (true)
            {
                var line = await ReadLineAsync(endpoint, lines == 0, cancellationToken).ConfigureAwait(false);
                lines++;
                if (line.Length == 0)
                {
                    return action ?? throw new PolicyServerException($"policy server {endpoint} sent a malformed reply: no action= attribute before the empty line");
                }

                // The reply is strict, as Postfix reads it: name=value lines, the one attribute 'action', then an empty line.
                var equals = line.IndexOf('=', StringComparison.Ordinal);
                if (equals <= 0)
                {
                    throw new PolicyServerException($"policy server {endpoint} sent a malformed reply: line '{Shorten(line)}' is not name=value");
                }

                var name = line[..equals];
                if (!string.Equals(name, "action", StringComparison.Ordinal))
                {
                    throw new PolicyServerException($"policy server {endpoint} sent a malformed reply: unexpected attribute '{Shorten(name)}' (only action= is defined)");
                }

                if (action is not null)
                {
                    throw new PolicyServerException($"policy server {endpoint} sent a malformed reply: two action= attributes");
                }

                action = line[(equals + 1)..];
            }
        }

        private async Task<string> ReadLineAsync(PolicyEndpoint endpoint, bool first, CancellationToken cancellationToken)
        {
            while (true)
            {
                var newline = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
                if (newline >= 0)
                {
                    var length = newline - _start;
                    if (length > 0 && _buffer[newline - 1] == '\r')
                    {
                        length--;
                    }

                    var line = Encoding.UTF8.GetString(_buffer, _start, length);
                    _start = newline + 1;
                    return line;
                }

                if (_end - _start >= MaxLine)
                {
                    throw new PolicyServerException($"policy server {endpoint} sent a malformed reply: a line longer than {MaxLine} bytes");
                }

                if (_start > 0)
                {
                    Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                    _end -= _start;
                    _start = 0;
                }

                var read = await _stream.ReadAsync(_buffer.AsMemory(_end), cancellationToken).ConfigureAwait(false);
                if (read == 0)
                {
                    // Before any byte of the reply the request may be retried on a new connection; in the middle of one it may not.
                    throw first && _end == _start
                        ? new ConnectionClosedException($"policy server {endpoint} closed the connection without answering")
                        : new PolicyServerException($"policy server {endpoint} closed the connection in the middle of its reply");
                }

                _end += read;
            }
        }

        private static string Shorten(string text) => text.Length <= 80 ? text : text[..80] + "...";

        public void Dispose() => _stream.Dispose();
    }
}
