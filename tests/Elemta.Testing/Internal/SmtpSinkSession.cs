using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Text;

namespace Elemta.Testing.Internal;

/// <summary>One SMTP connection served by <see cref="SmtpSink"/> (RFC 5321 server side).</summary>
internal sealed class SmtpSinkSession
{
    /// <summary>
    /// RFC 5321 section 4.5.3.1.4 sets 512 octets for a command line, but each extension parameter may add
    /// to it (RFC 1869) and SMTPUTF8 addresses are longer in UTF-8, so the sink is lenient.
    /// </summary>
    private const int MaxCommandLineLength = 4096;

    /// <summary>How long a closing session waits for the client to close its side.</summary>
    private static readonly TimeSpan LingerTimeout = TimeSpan.FromSeconds(5);

    private static readonly UTF8Encoding Utf8 = new(encoderShouldEmitUTF8Identifier: false);

    private readonly SmtpSink _sink;
    private readonly Socket _socket;
    private Stream _stream;
    private LineReader _reader;
    private SslProtocols? _tlsProtocol;
    private readonly StringBuilder _pendingReplies = new();
    private readonly List<string> _recipients = [];
    private string _heloName = string.Empty;
    private bool _greeted;
    private bool _refusing;
    private string? _mailFrom;
    private bool _recipientRejected;
    private string? _authenticatedAs;

    public SmtpSinkSession(SmtpSink sink, Socket socket)
    {
        _sink = sink;
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _reader = new LineReader(_stream, FlushAsync);
    }

    /// <summary>Completes when the session has ended; never faults.</summary>
    public Task Completion { get; private set; } = Task.CompletedTask;

    public void Start(Action onEnded, CancellationToken cancellationToken) =>
        Completion = RunAsync(onEnded, cancellationToken);

    /// <summary>Closes the connection; the pending read then fails and the session ends.</summary>
    public void Abort() => _stream.Dispose();

    private async Task RunAsync(Action onEnded, CancellationToken cancellationToken)
    {
        try
        {
            var serverCloses = Greet() || await CommandLoopAsync(cancellationToken);
            if (serverCloses)
            {
                await FlushAsync(cancellationToken);
                await LingerAsync(cancellationToken);
            }
        }
        catch (Exception ex) when (ex is IOException or SocketException or ObjectDisposedException
                                       or OperationCanceledException)
        {
            // The client went away or the sink is shutting down.
        }
        catch (Exception ex)
        {
            _sink.ReportError(ex);
        }
        finally
        {
            try
            {
                _socket.Shutdown(SocketShutdown.Both);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                // Already closed.
            }

            await _stream.DisposeAsync();
            onEnded();
        }
    }

    /// <summary>Queues the greeting; returns whether the connection is to be closed right after it.</summary>
    private bool Greet()
    {
        var reply = _sink.ConnectReply;
        if (reply is null)
        {
            return Reply(220, $"{_sink.HostName} ESMTP Elemta.Testing SmtpSink");
        }

        // RFC 5321 section 3.1: after a 554 greeting the server waits for QUIT and answers 503 meanwhile.
        _refusing = !reply.IsPositive;
        return Reply(reply);
    }

    /// <summary>Serves commands; returns true when the server ends the session, false when the client closed it.</summary>
    private async Task<bool> CommandLoopAsync(CancellationToken cancellationToken)
    {
        while (true)
        {
            var read = await _reader.ReadLineAsync(MaxCommandLineLength, cancellationToken);
            if (read is not { } line)
            {
                return false;
            }

            if (line.Span[^1] != (byte)'\n')
            {
                if (line.Length >= MaxCommandLineLength)
                {
                    // The rest of the line would be misread as a command: give up on this client.
                    Reply(500, "5.5.2 Line too long");
                    return true;
                }

                // Otherwise an unterminated line was cut off by the client closing the connection.
                return false;
            }

            var command = Utf8.GetString(line.Span).TrimEnd('\r', '\n');
            if (await ExecuteAsync(command, cancellationToken))
            {
                return true;
            }
        }
    }

    /// <summary>
    /// Closes the sending side and discards input until the client closes too (or a bound passes).
    /// Closing a socket with unread input (e.g. commands pipelined after a 421) makes the kernel send RST,
    /// which can destroy the final reply before the client has read it.
    /// </summary>
    private async Task LingerAsync(CancellationToken cancellationToken)
    {
        _socket.Shutdown(SocketShutdown.Send);
        using var linger = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        linger.CancelAfter(LingerTimeout);
        var discard = new byte[4096];
        while (await _stream.ReadAsync(discard, linger.Token) > 0)
        {
        }
    }

    /// <summary>Runs one command; returns whether the connection is to be closed.</summary>
    private async ValueTask<bool> ExecuteAsync(string command, CancellationToken cancellationToken)
    {
        var space = command.IndexOf(' ');
        var verb = (space < 0 ? command : command[..space]).ToUpperInvariant();
        var argument = space < 0 ? string.Empty : command[(space + 1)..].Trim();

        if (_refusing && verb != "QUIT")
        {
            return Reply(503, "5.5.1 Bad sequence of commands");
        }

        switch (verb)
        {
            case "EHLO":
                return Hello(argument, extended: true);
            case "HELO":
                return Hello(argument, extended: false);
            case "MAIL":
                return Mail(argument);
            case "RCPT":
                return Recipient(argument);
            case "DATA":
                return await DataAsync(argument, cancellationToken);
            case "RSET":
                ResetTransaction();
                return Reply(250, "2.0.0 Ok");
            case "NOOP":
                return Reply(250, "2.0.0 Ok");
            case "QUIT":
                Reply(221, "2.0.0 Bye");
                return true;
            case "VRFY":
                return Reply(252, "2.5.2 Cannot VRFY user, but will accept message and attempt delivery");
            case "STARTTLS" when _sink.ServerCertificate is not null && _tlsProtocol is null:
                return await StartTlsAsync(argument, cancellationToken);
            case "AUTH" when AuthOffered:
                return await AuthAsync(argument, cancellationToken);
            case "STARTTLS" or "AUTH" or "BDAT" or "EXPN" or "HELP" or "ETRN" or "TURN":
                return Reply(502, "5.5.1 Command not implemented");
            default:
                return Reply(500, "5.5.2 Command not recognized");
        }
    }

    private bool Hello(string domain, bool extended)
    {
        if (domain.Length == 0)
        {
            return Reply(501, extended ? "5.5.4 Syntax: EHLO hostname" : "5.5.4 Syntax: HELO hostname");
        }

        // RFC 5321 section 4.1.4: EHLO/HELO in the middle of a transaction resets it.
        ResetTransaction();
        _heloName = domain;
        _greeted = true;
        if (!extended)
        {
            return Reply(250, $"{_sink.HostName} Hello {domain}");
        }

        List<string> lines =
        [
            $"{_sink.HostName} Hello {domain}",
            "PIPELINING",
            "8BITMIME",
            "SMTPUTF8",
            $"SIZE {_sink.MaxMessageSize}",
            "ENHANCEDSTATUSCODES",
        ];
        if (_sink.ServerCertificate is not null && _tlsProtocol is null)
        {
            lines.Add("STARTTLS");
        }

        if (AuthOffered)
        {
            lines.Add("AUTH PLAIN LOGIN");
        }

        // RFC 8689 section 4: REQUIRETLS is only offered inside TLS.
        if (_sink.AdvertiseRequireTls && _tlsProtocol is not null)
        {
            lines.Add("REQUIRETLS");
        }

        return Reply(250, string.Join('\n', lines));
    }

    /// <summary>
    /// RFC 3207: answers 220, runs the server side of the handshake on the same socket and forgets the EHLO. Bytes
    /// pipelined after STARTTLS are discarded with the old reader (RFC 3207 section 4.2), as a careful server does.
    /// A failed handshake ends the session.
    /// </summary>
    private async ValueTask<bool> StartTlsAsync(string argument, CancellationToken cancellationToken)
    {
        if (argument.Length != 0)
        {
            return Reply(501, "5.5.4 Syntax: STARTTLS");
        }

        Reply(220, "2.0.0 Ready to start TLS");
        await FlushAsync(cancellationToken);
        var tls = new SslStream(_stream, leaveInnerStreamOpen: false);
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = SslStreamCertificateContext.Create(_sink.ServerCertificate!, _sink.ServerCertificateChain, offline: true),
            EnabledSslProtocols = _sink.TlsProtocols,
            ClientCertificateRequired = false,
        };
        try
        {
            await tls.AuthenticateAsServerAsync(options, cancellationToken);
        }
        catch (AuthenticationException ex)
        {
            // The client refused the certificate or the protocol version: it hangs up, as it should.
            await tls.DisposeAsync();
            throw new IOException("TLS handshake failed", ex);
        }

        _stream = tls;
        _reader = new LineReader(tls, FlushAsync);
        _tlsProtocol = tls.SslProtocol;
        _authenticatedAs = null;
        _heloName = string.Empty;
        _greeted = false;
        ResetTransaction();
        return false;
    }

    private bool AuthOffered => _sink.AuthUserName is not null && (!_sink.AuthOnlyOverTls || _tlsProtocol is not null);

    /// <summary>RFC 4954 AUTH with the PLAIN (RFC 4616) and LOGIN mechanisms, with or without an initial response.</summary>
    private async ValueTask<bool> AuthAsync(string argument, CancellationToken cancellationToken)
    {
        if (!_greeted || _mailFrom is not null || _authenticatedAs is not null)
        {
            return Reply(503, "5.5.1 Bad sequence of commands");
        }

        _sink.CountAuth(plaintext: _tlsProtocol is null);
        var parts = argument.Split(' ', 2, StringSplitOptions.RemoveEmptyEntries);
        var mechanism = parts.Length > 0 ? parts[0].ToUpperInvariant() : string.Empty;
        var initial = parts.Length > 1 ? parts[1] : null;
        string? user;
        string? password;
        switch (mechanism)
        {
            case "PLAIN":
                var response = initial ?? await ChallengeAsync(string.Empty, cancellationToken);
                var fields = response is null ? null : Decode(response)?.Split('\0');
                if (fields is not { Length: 3 })
                {
                    return Reply(501, "5.5.2 Cannot decode the response");
                }

                (user, password) = (fields[1], fields[2]);
                break;
            case "LOGIN":
                var userText = initial ?? await ChallengeAsync("VXNlcm5hbWU6", cancellationToken);
                user = userText is null ? null : Decode(userText);
                var passwordText = user is null ? null : await ChallengeAsync("UGFzc3dvcmQ6", cancellationToken);
                password = passwordText is null ? null : Decode(passwordText);
                if (user is null || password is null)
                {
                    return Reply(501, "5.5.2 Cannot decode the response");
                }

                break;
            default:
                return Reply(504, "5.5.4 Unrecognized authentication type");
        }

        if (!string.Equals(user, _sink.AuthUserName, StringComparison.Ordinal) || !string.Equals(password, _sink.AuthPassword, StringComparison.Ordinal))
        {
            return Reply(535, "5.7.8 Authentication credentials invalid");
        }

        _authenticatedAs = user;
        return Reply(235, "2.7.0 Authentication successful");
    }

    /// <summary>Sends a 334 challenge and reads the client's line; null when it cancelled with "*" or hung up.</summary>
    private async ValueTask<string?> ChallengeAsync(string challenge, CancellationToken cancellationToken)
    {
        Reply(334, challenge);
        var read = await _reader.ReadLineAsync(MaxCommandLineLength, cancellationToken);
        if (read is not { } line)
        {
            return null;
        }

        var text = Utf8.GetString(line.Span).TrimEnd('\r', '\n');
        return text == "*" ? null : text;
    }

    private static string? Decode(string base64)
    {
        try
        {
            return Utf8.GetString(Convert.FromBase64String(base64));
        }
        catch (FormatException)
        {
            return null;
        }
    }

    private bool Mail(string argument)
    {
        if (!_greeted)
        {
            return Reply(503, "5.5.1 Send EHLO or HELO first");
        }

        if (_sink.AuthUserName is not null && _authenticatedAs is null)
        {
            return Reply(530, "5.7.0 Authentication required");
        }

        if (_mailFrom is not null)
        {
            return Reply(503, "5.5.1 Nested MAIL command");
        }

        if (!TryParsePath(argument, "FROM:", out var reversePath, out var parameters))
        {
            return Reply(501, "5.5.4 Syntax: MAIL FROM:<address>");
        }

        // RFC 1870 section 6: refuse up front when the declared size is over the limit. Other parameters
        // (BODY=8BITMIME, SMTPUTF8, ...) are accepted and ignored.
        if (DeclaredSize(parameters) > _sink.MaxMessageSize)
        {
            return Reply(552, "5.3.4 Message size exceeds fixed maximum message size");
        }

        var reply = InvokeHook(_sink.OnMailFrom, reversePath, nameof(SmtpSink.OnMailFrom))
                    ?? new SmtpSinkReply(250, "2.1.0 Ok");
        if (reply.IsPositive)
        {
            _mailFrom = reversePath;
        }

        return Reply(reply);
    }

    private bool Recipient(string argument)
    {
        if (_mailFrom is null)
        {
            return Reply(503, "5.5.1 Need MAIL command");
        }

        if (!TryParsePath(argument, "TO:", out var forwardPath, out _) || forwardPath.Length == 0)
        {
            return Reply(501, "5.5.4 Syntax: RCPT TO:<address>");
        }

        var reply = InvokeHook(_sink.OnRecipient, forwardPath, nameof(SmtpSink.OnRecipient))
                    ?? new SmtpSinkReply(250, "2.1.5 Ok");
        if (reply.IsPositive)
        {
            _recipients.Add(forwardPath);
        }
        else
        {
            _recipientRejected = true;
        }

        return Reply(reply);
    }

    private async ValueTask<bool> DataAsync(string argument, CancellationToken cancellationToken)
    {
        if (argument.Length != 0)
        {
            return Reply(501, "5.5.4 Syntax: DATA");
        }

        if (_mailFrom is null)
        {
            return Reply(503, "5.5.1 Need MAIL command");
        }

        if (_recipients.Count == 0)
        {
            // RFC 5321 section 3.3: 554 when every recipient was refused, 503 when none was given.
            return _recipientRejected
                ? Reply(554, "5.5.1 No valid recipients")
                : Reply(503, "5.5.1 Need RCPT command");
        }

        Reply(354, "End data with <CR><LF>.<CR><LF>");

        using var body = new MemoryStream();
        var atLineStart = true;
        var tooBig = false;
        while (true)
        {
            // Lines longer than the read buffer arrive in pieces; only a piece at the start of a line can be
            // the end marker or carry a stuffed dot.
            var read = await _reader.ReadLineAsync(int.MaxValue, cancellationToken);
            if (read is not { } chunk)
            {
                // Connection closed before the end of data: RFC 5321 section 4.1.1.4 says the message is not
                // to be delivered.
                return true;
            }

            var content = chunk.Span;
            if (atLineStart && content[0] == (byte)'.')
            {
                if (content.SequenceEqual(".\r\n"u8))
                {
                    break;
                }

                // Transparency, RFC 5321 section 4.5.2: drop the first of a line's leading dots.
                content = content[1..];
            }

            atLineStart = chunk.Span[^1] == (byte)'\n';
            if (tooBig)
            {
                continue;
            }

            if (body.Length + content.Length > _sink.MaxMessageSize)
            {
                // Keep reading to the end marker so the session stays in sync, but stop storing.
                tooBig = true;
                body.SetLength(0);
                continue;
            }

            body.Write(content);
        }

        var message = new SinkMessage(
            _heloName, _mailFrom, _recipients.ToArray(), body.ToArray(), DateTimeOffset.UtcNow)
        {
            TlsProtocol = _tlsProtocol,
            AuthenticatedAs = _authenticatedAs,
        };
        ResetTransaction();

        if (tooBig)
        {
            return Reply(552, "5.3.4 Message size exceeds fixed maximum message size");
        }

        var reply = InvokeHook(_sink.OnData, message, nameof(SmtpSink.OnData))
                    ?? new SmtpSinkReply(250, "2.0.0 Ok: queued");
        if (reply.IsPositive)
        {
            // Recorded before the reply is sent, so a client that has seen the 250 always finds the message.
            _sink.AddMessage(message);
        }

        return Reply(reply);
    }

    private void ResetTransaction()
    {
        _mailFrom = null;
        _recipients.Clear();
        _recipientRejected = false;
    }

    private SmtpSinkReply? InvokeHook<T>(Func<T, SmtpSinkReply?>? hook, T argument, string name)
    {
        if (hook is null)
        {
            return null;
        }

        try
        {
            return hook(argument);
        }
        catch (Exception ex)
        {
            _sink.ReportError(ex);
            var detail = ex.Message.ReplaceLineEndings(" ");
            return new SmtpSinkReply(451, $"4.3.0 SmtpSink {name} hook threw {ex.GetType().Name}: {detail}");
        }
    }

    /// <summary>Queues a reply; returns whether the connection is to be closed after it (code 421).</summary>
    private bool Reply(SmtpSinkReply reply) => Reply(reply.Code, reply.Text);

    private bool Reply(int code, string text)
    {
        if (code is < 200 or > 599)
        {
            throw new InvalidOperationException($"Invalid SMTP reply code {code}.");
        }

        // RFC 5321 section 4.2.1: every line but the last has a hyphen after the code.
        var lines = text.ReplaceLineEndings("\n").Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            _pendingReplies.Append(code).Append(i == lines.Length - 1 ? ' ' : '-').Append(lines[i]).Append("\r\n");
        }

        // RFC 5321 section 3.8: 421 means the service is closing the channel.
        return code == 421;
    }

    /// <summary>
    /// Sends the queued replies. Called before every blocking read, so replies to a pipelined group of
    /// commands go out together once the group has been consumed (RFC 2920 section 3.2).
    /// </summary>
    private async ValueTask FlushAsync(CancellationToken cancellationToken)
    {
        if (_pendingReplies.Length == 0)
        {
            return;
        }

        var bytes = Utf8.GetBytes(_pendingReplies.ToString());
        _pendingReplies.Clear();
        await _stream.WriteAsync(bytes, cancellationToken);
    }

    /// <summary>
    /// Parses <c>FROM:&lt;path&gt; params</c> / <c>TO:&lt;path&gt; params</c> (RFC 5321 section 4.1.2),
    /// leniently allowing a space after the colon and a path without angle brackets.
    /// </summary>
    private static bool TryParsePath(string argument, string keyword, out string address, out string parameters)
    {
        address = string.Empty;
        parameters = string.Empty;
        if (!argument.StartsWith(keyword, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        var rest = argument[keyword.Length..].TrimStart();
        if (rest.StartsWith('<'))
        {
            var close = FindClosingBracket(rest);
            if (close < 0)
            {
                return false;
            }

            address = rest[1..close];
            parameters = rest[(close + 1)..].Trim();
        }
        else
        {
            var space = rest.IndexOf(' ');
            address = space < 0 ? rest : rest[..space];
            parameters = space < 0 ? string.Empty : rest[(space + 1)..].Trim();
        }

        // RFC 5321 section 4.1.2 / appendix C: a source route (@a,@b:user@c) is accepted and ignored.
        if (address.StartsWith('@'))
        {
            var colon = address.IndexOf(':');
            if (colon < 0)
            {
                return false;
            }

            address = address[(colon + 1)..];
        }

        return true;
    }

    /// <summary>Finds the '&gt;' that closes the path, skipping quoted local parts such as <c>"a&gt;b"@c</c>.</summary>
    private static int FindClosingBracket(string path)
    {
        var quoted = false;
        for (var i = 1; i < path.Length; i++)
        {
            switch (path[i])
            {
                case '\\' when quoted:
                    i++;
                    break;
                case '"':
                    quoted = !quoted;
                    break;
                case '>' when !quoted:
                    return i;
            }
        }

        return -1;
    }

    private static long DeclaredSize(string parameters)
    {
        foreach (var parameter in parameters.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (parameter.StartsWith("SIZE=", StringComparison.OrdinalIgnoreCase)
                && long.TryParse(parameter.AsSpan(5), out var size))
            {
                return size;
            }
        }

        return 0;
    }
}
