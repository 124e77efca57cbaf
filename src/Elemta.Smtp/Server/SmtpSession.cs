using System.Buffers;
using System.Collections.Immutable;
using System.Globalization;
using System.IO.Pipelines;
using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Elemta.Contracts;
using Elemta.Smtp.Admission;
using Elemta.Smtp.Observability;
using Elemta.Smtp.Protocol;
using Microsoft.Extensions.Logging;

namespace Elemta.Smtp.Server;

/// <summary>
/// One SMTP connection (RFC 5321), driven over pipes. Replies are buffered and flushed only before the session
/// waits for input, which is what makes PIPELINING (RFC 2920) batches cheap. The end of data is recognised only as
/// <c>&lt;CRLF&gt;.&lt;CRLF&gt;</c>, and content with bare CR or LF is refused, so no other line ending can end a
/// message early (the SMTP smuggling class of CVE-2023-51766).
/// </summary>
internal sealed partial class SmtpSession
{
    private const int MaxCommandLine = 512;      // RFC 5321 §4.5.3.1.4, including CRLF
    private const int MaxBufferedDataLine = 64 * 1024;

    // A sentinel compared by reference: the command line was longer than RFC 5321 allows and was discarded.
    private static readonly string LineTooLong = new('\0', 1);

    /// <summary>
    /// Returned for a line that is not valid UTF-8 (RFC 6531 §3.3: SMTPUTF8 commands are UTF-8; everything else is
    /// ASCII, a subset). Decoding it with replacement characters would turn it into a different, valid address.
    /// </summary>
    private static readonly string InvalidUtf8 = new('\0', 1);

    private readonly Stream _transport;
    private readonly bool _implicitTls;
    private PipeReader _input;
    private PipeWriter _output;
    private SslStream? _tls;
    private readonly IPEndPoint _remote;
    private readonly SmtpServerContext _server;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _timeout;
    private readonly CancellationTokenSource _sessionClock;
    private readonly CancellationToken _sessionToken;

    private string? _helo;
    private bool _extended;
    private SmtpPath? _mailFrom;
    private readonly List<string> _recipients = [];
    private int _errors;
    private bool _quit;
    private bool _pendingOutput;
    private bool _requireTlsMessage;

    /// <summary>Whether input was already waiting after the end of the last DATA, before its reply was sent.</summary>
    private bool _pipelinedAfterData;

    /// <summary>The transaction's <c>SIZE=</c> (RFC 1870), at most MaxMessageSize: how large a buffer to start with.</summary>
    private long? _declaredSize;

    public SmtpSession(Stream transport, bool implicitTls, bool submission, IPEndPoint remote, SmtpServerContext server, ILogger logger, CancellationToken sessionToken)
    {
        _transport = transport;
        _implicitTls = implicitTls;
        _submission = submission;
        (_input, _output) = CreatePipes(transport);
        _remote = remote;
        _server = server;
        _logger = logger;
        _sessionToken = sessionToken;
        // Each read waits at most its own timeout and, through this link, never past the session deadline.
        _sessionClock = StartSessionClock(server);
        _timeout = CancellationTokenSource.CreateLinkedTokenSource(sessionToken, _sessionClock.Token);
    }

    private SmtpServerOptions Options => _server.Options;

    public async Task RunAsync()
    {
        // Whether the connection holds one of this front-end's MaxConnections places, given back when the session ends.
        var open = false;
        // A trace per session (null unless tracing is configured), and a log scope so every line of the session can be
        // found by its id or the client's address.
        using var activity = SmtpMetrics.Activities.StartActivity("smtp.session", System.Diagnostics.ActivityKind.Server);
        activity?.SetTag("elemta.session_id", SessionId);
        activity?.SetTag("client.address", ClientAddress);
        using var scope = SessionScope(_logger, SessionId, ClientAddress);
        try
        {
            // RFC 8314: on an implicit-TLS port the handshake comes before anything else, the greeting included.
            if (_implicitTls && !await StartTlsAsync().ConfigureAwait(false))
            {
                return;
            }

            if (!(open = _server.TryOpenConnection()))
            {
                LogRejectedConnection(_remote, ConnectionDenial.TooManyConnections);
                SmtpMetrics.ConnectionRefused(ConnectionDenial.TooManyConnections);
                Reply(421, "4.7.0", $"{_server.HostName} too many connections, try again later");
                await FlushAsync().ConfigureAwait(false);
                return;
            }

            // Plugins, the per-address connection limits among them (the built-in connection-limits, first by its
            // order), before the greeting delay as the limits always were: nothing but an array length read when no
            // connect hook is loaded for this client.
            _connectionSet = ConnectionHooks;
            if (_connectionSet.Connect is { Length: > 0 } connectHooks && !await ConnectHooksAsync(connectHooks).ConfigureAwait(false))
            {
                await FlushAsync().ConfigureAwait(false);
                return;
            }

            if (!await ClientWaitsForGreetingAsync().ConfigureAwait(false))
            {
                await FlushAsync().ConfigureAwait(false);
                return;
            }

            Reply(220, null, $"{_server.HostName} {Options.Banner}");
            while (!_quit)
            {
                var line = await ReadCommandAsync().ConfigureAwait(false);
                if (line is null)
                {
                    break;
                }

                await HandleCommandAsync(line).ConfigureAwait(false);
                if (_errors >= Options.MaxErrors && !_quit)
                {
                    Reply(421, "4.7.0", $"{_server.HostName} too many errors, closing connection");
                    break;
                }
            }

            await FlushAsync().ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!_sessionToken.IsCancellationRequested)
        {
            // RFC 5321 §4.5.3.2: on a timeout the server closes with 421.
            var what = _sessionClock.IsCancellationRequested ? "session time limit reached" : "timeout";
            await TryFinalReplyAsync(421, "4.4.2", $"{_server.HostName} {what}, closing connection").ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await TryFinalReplyAsync(421, "4.3.2", $"{_server.HostName} service shutting down, closing connection").ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or InvalidOperationException)
        {
            LogConnectionLost(_remote, ex.Message);
        }
        finally
        {
            // Every plugin of the set the connect hooks ran on hears of the disconnect, whatever ended the session, so
            // what a connect hook took (the connection-limits lease) is always given back.
            if (_connectionSet is not null)
            {
                await DisconnectHooksAsync(_connectionSet).ConfigureAwait(false);
            }

            if (open)
            {
                _server.CloseConnection();
            }

            _timeout.Dispose();
            _sessionClock.Dispose();
            _chunked?.Dispose();
            await _input.CompleteAsync().ConfigureAwait(false);
            // The session has flushed every reply it could. Completing with an error drops whatever is left rather
            // than writing it, without a time limit, to a client that is gone or not reading.
            await _output.CompleteAsync(new OperationCanceledException("SMTP session ended")).ConfigureAwait(false);
            if (_tls is not null)
            {
                await _tls.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static (PipeReader, PipeWriter) CreatePipes(Stream stream) =>
        (PipeReader.Create(stream, new StreamPipeReaderOptions(bufferSize: 16 * 1024, leaveOpen: true)),
         PipeWriter.Create(stream, new StreamPipeWriterOptions(leaveOpen: true)));

    /// <summary>Whether the connection is encrypted (STARTTLS done, or an implicit-TLS port).</summary>
    private bool IsSecure => _tls is not null;

    /// <summary>STARTTLS (RFC 3207).</summary>
    private async Task StartTlsCommandAsync(string argument)
    {
        if (!_server.Certificate.IsAvailable)
        {
            Error(502, "5.5.1", "STARTTLS not available");
            return;
        }

        if (IsSecure)
        {
            Error(503, "5.5.1", "TLS already active");
            return;
        }

        if (argument.Length > 0)
        {
            Error(501, "5.5.4", "Syntax: STARTTLS");
            return;
        }

        Reply(220, "2.0.0", "Ready to start TLS");
        await FlushAsync().ConfigureAwait(false);
        if (_input.TryRead(out var early))
        {
            // Commands pipelined after STARTTLS arrived in plaintext and must not be executed inside the TLS
            // session (CVE-2011-0411 class): they are dropped, and the handshake decides what happens next.
            LogPlaintextDiscarded(_remote, early.Buffer.Length);
            _input.AdvanceTo(early.Buffer.End);
        }

        if (!await StartTlsAsync().ConfigureAwait(false))
        {
            _quit = true;
            return;
        }

        // RFC 3207 §4.2: forget everything learned before TLS; the client starts again with EHLO.
        _helo = null;
        _extended = false;
        _user = null;
        ResetTransaction();
        if (Hooks.StartTls is { Length: > 0 } hooks)
        {
            await StartTlsHooksAsync(hooks).ConfigureAwait(false);
        }
    }

    /// <summary>Runs the server side of the TLS handshake and moves the session's pipes onto the encrypted stream.</summary>
    private async Task<bool> StartTlsAsync()
    {
        await _input.CompleteAsync().ConfigureAwait(false);
        await _output.CompleteAsync().ConfigureAwait(false);
        var tls = new SslStream(_transport, leaveInnerStreamOpen: true);
        try
        {
            using var handshake = CancellationTokenSource.CreateLinkedTokenSource(_sessionToken);
            handshake.CancelAfter(Options.Tls.HandshakeTimeout);
            await tls.AuthenticateAsServerAsync(new SslServerAuthenticationOptions
            {
                ServerCertificateContext = _server.Certificate.Context,
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                ClientCertificateRequired = false,
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            }, handshake.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is AuthenticationException or IOException or OperationCanceledException && !_sessionToken.IsCancellationRequested)
        {
            LogTlsFailed(_remote, ex.Message);
            SmtpMetrics.TlsFailed();
            await tls.DisposeAsync().ConfigureAwait(false);
            (_input, _output) = CreatePipes(Stream.Null);
            return false;
        }

        _tls = tls;
        (_input, _output) = CreatePipes(tls);
        LogTlsEstablished(_remote, tls.SslProtocol, tls.NegotiatedCipherSuite);
        SmtpMetrics.TlsEstablished(tls.SslProtocol);
        return true;
    }

    private async Task HandleCommandAsync(string line)
    {
        if (ReferenceEquals(line, LineTooLong))
        {
            Error(500, "5.5.2", "Line too long");
            return;
        }

        if (ReferenceEquals(line, InvalidUtf8))
        {
            Error(500, "5.5.2", "Syntax error: the command is not valid UTF-8 (RFC 6531 §3.3)");
            return;
        }

        var space = line.IndexOf(' ', StringComparison.Ordinal);
        var verb = (space < 0 ? line : line[..space]).ToUpperInvariant();
        var argument = space < 0 ? string.Empty : line[(space + 1)..];
        SmtpMetrics.Command(verb);
        switch (verb)
        {
            case "EHLO" or "HELO":
                var extended = verb == "EHLO";
                if (CheckHello(argument, extended) is { } name
                    && (Hooks.Helo is not { Length: > 0 } heloHooks || await HeloHooksAsync(heloHooks, name, extended).ConfigureAwait(false)))
                {
                    Hello(name, extended);
                }

                break;
            case "MAIL":
                if (CheckMail(argument) is { } sender
                    && (Hooks.MailTransaction is not { Length: > 0 } mailHooks || await MailHooksAsync(mailHooks, sender).ConfigureAwait(false)))
                {
                    StartTransaction(sender);
                }

                break;
            case "RCPT":
                if (CheckRcpt(argument, out var recipient, out var recipientDsn)
                    && (Hooks is var rcptSet && rcptSet.Security.Length == 0 && rcptSet.MailTransaction.Length == 0 || await RcptHooksAsync(rcptSet, recipient.Mailbox).ConfigureAwait(false)))
                {
                    AddRecipient(recipient, recipientDsn);
                }

                break;
            case "DATA":
                await DataAsync(argument).ConfigureAwait(false);
                break;
            case "BDAT":
                await BdatAsync(argument).ConfigureAwait(false);
                break;
            case "STARTTLS":
                await StartTlsCommandAsync(argument).ConfigureAwait(false);
                break;
            case "AUTH":
                await AuthCommandAsync(argument).ConfigureAwait(false);
                break;
            case "RSET":
                ResetTransaction();
                Reply(250, "2.0.0", "Ok");
                break;
            case "NOOP":
                Reply(250, "2.0.0", "Ok");
                break;
            case "QUIT":
                Reply(221, "2.0.0", $"{_server.HostName} closing connection");
                _quit = true;
                break;
            case "VRFY":
                // RFC 5321 §3.5.3: 252 says "not verified, but will try".
                Reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
                break;
            case "EXPN":
                Error(502, "5.5.1", "EXPN not available");
                break;
            case "HELP":
                Reply(214, "2.0.0", "Commands: EHLO HELO STARTTLS AUTH MAIL RCPT DATA BDAT RSET NOOP QUIT VRFY HELP");
                break;
            case "":
                Error(500, "5.5.2", "Syntax error, empty command");
                break;
            default:
                Error(500, "5.5.2", "Syntax error, command unrecognized");
                break;
        }
    }

    /// <summary>The name of a HELO or EHLO, or null when it is malformed (the reply is written).</summary>
    private string? CheckHello(string argument, bool extended)
    {
        var name = argument.Trim();
        // Control characters (a bare CR above all) would be copied into the Received header of stored content.
        if (name.Length == 0 || name.Contains(' ', StringComparison.Ordinal) || name.Any(char.IsControl))
        {
            Error(501, "5.5.4", $"Syntax: {(extended ? "EHLO" : "HELO")} hostname");
            return null;
        }

        return name;
    }

    private void Hello(string name, bool extended)
    {
        // RFC 5321 §4.1.4: EHLO/HELO also resets any transaction in progress.
        ResetTransaction();
        _helo = name;
        _extended = extended;
        if (!extended)
        {
            Reply(250, null, $"{_server.HostName} Hello {name}");
            return;
        }

        ReplyLines(250,
        [
            $"{_server.HostName} Hello {name} [{ClientAddress}]",
            "PIPELINING",
            $"SIZE {Options.MaxMessageSize.ToString(CultureInfo.InvariantCulture)}",
            "8BITMIME",
            "CHUNKING",
            "DSN",
            "SMTPUTF8",
            "ENHANCEDSTATUSCODES",
            .. TlsExtensions(),
            .. AuthExtension(),
            "HELP",
        ]);
    }

    /// <summary>STARTTLS before TLS when a certificate is configured; REQUIRETLS only once TLS is up (RFC 8689 §4).</summary>
    private string[] TlsExtensions() =>
        IsSecure ? ["REQUIRETLS"] : _server.Certificate.IsAvailable ? ["STARTTLS"] : [];

    /// <summary>MAIL FROM checked: the sender, or null when refused (the reply is written).</summary>
    private SmtpPath? CheckMail(string argument)
    {
        if (_helo is null)
        {
            Error(503, "5.5.1", "Send EHLO or HELO first");
            return null;
        }

        if (_mailFrom is not null)
        {
            Error(503, "5.5.1", "Sender already specified; RSET first");
            return null;
        }

        if (MessageLimitReached())
        {
            return null;
        }

        if (Options.RequireTls && !IsSecure)
        {
            Error(530, "5.7.0", "Must issue a STARTTLS command first");
            return null;
        }

        if (!MayStartTransaction())
        {
            return null;
        }

        if (!argument.StartsWith("FROM:", StringComparison.OrdinalIgnoreCase))
        {
            Error(501, "5.5.4", "Syntax: MAIL FROM:<address>");
            return null;
        }

        var path = SmtpPathParser.Parse(argument[5..], allowNull: true, out var error);
        if (path is null)
        {
            Error(501, "5.1.7", $"Bad sender address syntax: {error}");
            return null;
        }

        if (!MaySendAs(path.Mailbox))
        {
            return null;
        }

        if (!CheckMailParameters(path))
        {
            return null;
        }

        // RFC 1870 §6.1 / RFC 3463 4.3.1: refused before the client sends the content, not after (Postfix's queue_minfree).
        if (_server.QueueSpace is { } space && !space.HasRoomFor(_declaredSize ?? 0))
        {
            LogQueueSpaceShort(_remote, _declaredSize ?? 0);
            Reply(452, "4.3.1", "Insufficient system storage; try again later");
            return null;
        }

        return path;
    }

    private void StartTransaction(SmtpPath path)
    {
        _mailFrom = path;
        Reply(250, "2.1.0", "Sender ok");
    }

    private bool CheckMailParameters(SmtpPath path)
    {
        string? dsnReturn = null;
        string? dsnEnvelopeId = null;
        var requireTls = false;
        long? declaredSize = null;
        foreach (var (keyword, value) in path.Parameters)
        {
            switch (keyword)
            {
                case "RET" or "ENVID" when _extended:
                    if (!TryMailDsnParameter(keyword, value, ref dsnReturn, ref dsnEnvelopeId))
                    {
                        return false;
                    }

                    break;
                case "SIZE":
                    if (!long.TryParse(value, NumberStyles.None, CultureInfo.InvariantCulture, out var size))
                    {
                        Error(501, "5.5.4", "Syntax: SIZE=<octets>");
                        return false;
                    }

                    if (size > Options.MaxMessageSize)
                    {
                        Error(552, "5.3.4", $"Message size exceeds fixed maximum message size of {Options.MaxMessageSize} octets");
                        return false;
                    }

                    declaredSize = size;
                    break;
                case "BODY":
                    if (!_extended || value is null || !(value.Equals("7BIT", StringComparison.OrdinalIgnoreCase) || value.Equals("8BITMIME", StringComparison.OrdinalIgnoreCase)))
                    {
                        Error(501, "5.5.4", "Syntax: BODY=7BIT or BODY=8BITMIME");
                        return false;
                    }

                    break;
                case "SMTPUTF8" when value is null && _extended:
                    break;
                case "AUTH" when _extended && AuthOffered:
                    // RFC 4954 §5: a server that offers AUTH accepts the parameter. Elemta does not pass on other
                    // MTAs' word for who submitted a message, so the value is checked for syntax and not kept.
                    if (value is null)
                    {
                        Error(501, "5.5.4", "Syntax: AUTH=<mailbox> or AUTH=<>");
                        return false;
                    }

                    break;
                case "REQUIRETLS" when value is null && _extended && IsSecure:
                    // RFC 8689 §4.1: recorded so that delivery relays the message only over verified TLS.
                    requireTls = true;
                    break;
                default:
                    Error(555, "5.5.4", $"Unsupported MAIL parameter {keyword}");
                    return false;
            }
        }

        _dsnReturn = dsnReturn;
        _dsnEnvelopeId = dsnEnvelopeId;
        _requireTlsMessage = requireTls;
        _declaredSize = declaredSize;
        return true;
    }

    /// <summary>RCPT TO checked: false when refused (the reply is written).</summary>
    private bool CheckRcpt(string argument, out SmtpPath path, out RecipientDsn? dsn)
    {
        path = null!;
        dsn = null;
        if (_mailFrom is null)
        {
            Error(503, "5.5.1", "Need MAIL before RCPT");
            return false;
        }

        if (_chunked is not null)
        {
            // RFC 3030 §2: the recipients are settled once the content has started.
            Error(503, "5.5.1", "RCPT not allowed after BDAT");
            return false;
        }

        if (!argument.StartsWith("TO:", StringComparison.OrdinalIgnoreCase))
        {
            Error(501, "5.5.4", "Syntax: RCPT TO:<address>");
            return false;
        }

        var parsed = SmtpPathParser.Parse(argument[3..], allowNull: false, out var error);
        if (parsed is null)
        {
            Error(501, "5.1.3", $"Bad recipient address syntax: {error}");
            return false;
        }

        path = parsed;
        if (!TryRecipientParameters(path, out dsn))
        {
            return false;
        }

        if (_recipients.Count >= Options.MaxRecipients)
        {
            // Not counted as a client error: RFC 5321 §4.5.3.1.10 expects clients to continue in a new transaction.
            Reply(452, "4.5.3", "Too many recipients");
            return false;
        }

        if (!MayRelayTo(path))
        {
            Error(554, "5.7.1", $"<{path.Mailbox}>: Relay access denied");
            return false;
        }

        return true;
    }

    private void AddRecipient(SmtpPath path, RecipientDsn? dsn)
    {
        AddRecipientDsn(dsn);
        _recipients.Add(path.Mailbox);
        Reply(250, "2.1.5", "Recipient ok");
    }

    private async Task DataAsync(string argument)
    {
        if (argument.Length > 0)
        {
            Error(501, "5.5.4", "Syntax: DATA");
            return;
        }

        if (_mailFrom is null)
        {
            Error(503, "5.5.1", "Need MAIL command");
            return;
        }

        if (_recipients.Count == 0)
        {
            Error(554, "5.5.1", "No valid recipients");
            return;
        }

        if (_chunked is not null)
        {
            // RFC 3030 §2: DATA and BDAT must not be mixed in one transaction.
            Error(503, "5.5.1", "DATA not allowed after BDAT; RSET first");
            return;
        }

        if (Hooks.MailTransaction is { Length: > 0 } hooks && !await DataHooksAsync(hooks).ConfigureAwait(false))
        {
            return;
        }

        Reply(354, null, "End data with <CR><LF>.<CR><LF>");
        using var message = StartMessage();
        var result = await ReadDataAsync(message.Content).ConfigureAwait(false);
        await CompleteMessageAsync(message, result).ConfigureAwait(false);
    }

    /// <summary>
    /// Ends the transaction with its complete content, for DATA and for BDAT LAST alike: the size, line and header
    /// rules, then acceptance, which alone answers 250. Disposes <paramref name="message"/> (its content goes back to
    /// the pool) once the acceptor is done with it, so no reference to the content outlives this call.
    /// </summary>
    private async Task CompleteMessageAsync(IncomingMessage message, DataResult result)
    {
        using var owned = message;
        if (ReferenceEquals(_chunked, message))
        {
            // Handed over from the BDAT transaction, so that ResetTransaction below does not dispose it in use.
            _chunked = null;
        }

        if (result == DataResult.ConnectionClosed)
        {
            _quit = true;
            return;
        }

        // Set only by DATA's reader: BDAT is meant to be pipelined (RFC 3030).
        var pipelined = _pipelinedAfterData;
        _pipelinedAfterData = false;
        if (pipelined && ForbidsPipelining)
        {
            // The client did not wait for this reply: what it sent next is not read as commands, and the message,
            // whose end it may have disguised, is not queued.
            ResetTransaction();
            LogPipelinedAfterData(_remote);
            Reply(554, "5.5.0", "Error: SMTP protocol synchronization");
            _quit = true;
            return;
        }

        var messageId = message.Id;
        var receivedAt = message.ReceivedAt;
        var content = message.Content;
        var sender = _mailFrom!.Mailbox;
        var recipients = _recipients.Distinct(StringComparer.OrdinalIgnoreCase).ToImmutableArray();
        var dsn = TransactionDsn();
        var requireTls = _requireTlsMessage;
        ResetTransaction();
        switch (result)
        {
            case DataResult.TooLarge:
                Error(552, "5.3.4", $"Message size exceeds fixed maximum message size of {Options.MaxMessageSize} octets");
                return;
            case DataResult.BareLineEnding:
                Error(554, "5.6.11", "Bare <CR> or <LF> in message content; lines must end with <CR><LF> (RFC 5321 §2.3.8)");
                return;
        }

        // Header rules first: a header line over 998 octets is also a text line over 1000, and the more specific
        // answer is the more useful one.
        if (CheckHeaderSection(message) is not { } header)
        {
            return;
        }

        if (result == DataResult.LineTooLong)
        {
            // 554, not 500: the command was fine, the content is refused (RFC 3463 5.6.0, other media error).
            Error(554, "5.6.0", $"Message content has a line longer than {Options.MaxLineLength} octets; wrap it or use a MIME transfer encoding (quoted-printable or base64)");
            return;
        }

        AddMissingFields(message, header);
        // Plugins see the message as it will be stored; their header changes and recipient rewrites apply before the commit.
        var plugins = Hooks;
        string? holdReason = null;
        if (plugins.Message.Length != 0 || plugins.ContentFilter.Length != 0 || plugins.Authentication.Length != 0)
        {
            (recipients, holdReason) = await MessageHooksAsync(plugins, message, sender, recipients).ConfigureAwait(false);
            if (recipients.IsDefault)
            {
                return;
            }
        }

        var size = content.WrittenCount;
        var envelope = new MessageEnvelope(messageId, sender, recipients, receivedAt, ClientAddress, _helo ?? string.Empty, size, MessagePriority.Normal, requireTls, dsn, holdReason);
        if (_server.QueueSpace is { } space && !space.HasRoomFor(size))
        {
            // The disk filled while the client was sending: nothing is written, and the client keeps the message.
            LogQueueSpaceShort(_remote, size);
            Reply(452, "4.3.1", "Insufficient system storage; try again later");
            return;
        }

        try
        {
            // Not cancelled by shutdown: once the client has sent the final dot, the answer must say what happened.
            // Stopping mid-commit and answering 421 could leave a queued message the client will send again.
            // Not cancellable also means the acceptor cannot return before it is done with the pooled content
            // (a store that is passed a cancellable token must copy it, see IMessageStore.AcceptAsync).
            using var accepting = SmtpMetrics.Activities.StartActivity("smtp.accept");
            accepting?.SetTag("elemta.message_id", messageId);
            await _server.Acceptor.AcceptAsync(envelope, content.WrittenMemory, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            LogAcceptFailed(messageId, ex);
            SmtpMetrics.MessageRejected();
            Plugins.ReportError("smtp.accept", $"{messageId}: storing the message failed ({ex.GetType().Name}: {ex.Message}); answered 4xx, the client keeps it", recovered: true);
            if (_server.QueueSpace?.IsOutOfSpace(ex) == true)
            {
                // The transaction was rolled back: nothing partial is queued.
                Reply(452, "4.3.1", "Insufficient system storage; try again later");
                return;
            }

            Reply(451, "4.3.0", "Temporary failure storing the message; please try again later");
            return;
        }

        _messagesAccepted++;
        SmtpMetrics.MessageReceived();
        LogQueued(messageId, _remote, sender, recipients.Length, size);
        if (holdReason is not null)
        {
            LogHeld(messageId, holdReason);
        }

        Reply(250, "2.0.0", $"Ok: queued as {messageId}");
    }

    /// <summary>Whether <see cref="SmtpServerOptions.ForbidUnauthPipelining"/> applies to this client.</summary>
    private bool ForbidsPipelining =>
        Options.ForbidUnauthPipelining && _user is null && !TrustedClient;

    [LoggerMessage(EventId = 1111, Level = LogLevel.Warning, Message = "Refused a transaction of {Client} with 452 4.3.1: the queue disk lacks room for {Octets} octets above its reserve")]
    private partial void LogQueueSpaceShort(System.Net.IPEndPoint client, long octets);

    [LoggerMessage(EventId = 1110, Level = LogLevel.Warning, Message = "{Client} sent commands after the end of DATA without waiting for the reply; answered 554 5.5.0 and disconnected")]
    private partial void LogPipelinedAfterData(System.Net.IPEndPoint client);

    private enum DataResult
    {
        Complete,
        TooLarge,
        BareLineEnding,
        LineTooLong,
        ConnectionClosed,
    }

    /// <summary>Reads message data up to the terminating <c>.</c> line, undoing dot-stuffing (RFC 5321 §4.5.2).</summary>
    private async Task<DataResult> ReadDataAsync(MessageBuffer content)
    {
        var atLineStart = true;
        var tooLarge = false;
        var bareLineEnding = false;
        // The current line's octets so far (after unstuffing: the transparency dot is SMTP's, not the line's).
        var lineLength = 0L;
        var lineTooLong = false;
        var limit = Options.MaxMessageSize + content.WrittenCount;
        while (true)
        {
            var read = await ReadAsync(Options.DataTimeout).ConfigureAwait(false);
            var buffer = read.Buffer;
            while (true)
            {
                var lf = buffer.PositionOf((byte)'\n');
                if (lf is null)
                {
                    if (buffer.Length > MaxBufferedDataLine)
                    {
                        // A very long line: take it in pieces, keeping the last byte in case it is the CR of a CRLF.
                        var piece = buffer.Slice(0, buffer.Length - 1);
                        if (Contains(piece, (byte)'\r'))
                        {
                            bareLineEnding = true;
                        }

                        var stuffing = atLineStart && piece.FirstSpan[0] == (byte)'.' ? 1 : 0;
                        Append(content, piece, stuffing, limit, ref tooLarge);
                        lineLength += piece.Length - stuffing;
                        atLineStart = false;
                        buffer = buffer.Slice(piece.End);
                    }

                    break;
                }

                var line = buffer.Slice(0, buffer.GetPosition(1, lf.Value));
                buffer = buffer.Slice(line.End);
                var length = line.Length;
                var crlf = length >= 2 && ByteAt(line, length - 2) == (byte)'\r';
                if (!crlf || Contains(line.Slice(0, length - 2 < 0 ? 0 : length - 2), (byte)'\r'))
                {
                    bareLineEnding = true;
                }

                if (atLineStart && crlf && length == 3 && ByteAt(line, 0) == (byte)'.')
                {
                    _pipelinedAfterData = !buffer.IsEmpty;
                    _input.AdvanceTo(buffer.Start);
                    return tooLarge ? DataResult.TooLarge
                        : bareLineEnding ? DataResult.BareLineEnding
                        : lineTooLong ? DataResult.LineTooLong
                        : DataResult.Complete;
                }

                var skip = atLineStart && ByteAt(line, 0) == (byte)'.' ? 1 : 0;
                Append(content, line, skip, limit, ref tooLarge);
                // Not refused at once: the reply must wait for the end of data. The pipe never holds the line whole
                // (see above) and the content stops growing at MaxMessageSize, so an endless line stays bounded.
                lineTooLong |= lineLength + length - skip - (crlf ? 2 : 1) > Options.MaxLineLength;
                lineLength = 0;
                // Only a CRLF starts a line: after a bare LF, ".<CRLF>" is not <CRLF>.<CRLF> and must not end the data.
                atLineStart = crlf;
            }

            _input.AdvanceTo(buffer.Start, buffer.End);
            if (read.IsCompleted)
            {
                return DataResult.ConnectionClosed;
            }
        }
    }

    private static void Append(MessageBuffer content, ReadOnlySequence<byte> data, int skip, long limit, ref bool tooLarge)
    {
        if (tooLarge)
        {
            return;
        }

        var slice = data.Slice(skip);
        if (content.WrittenCount + slice.Length > limit)
        {
            // Keep reading to the end of data so the reply lands where the client expects it, but store nothing more.
            tooLarge = true;
            return;
        }

        var span = content.GetSpan((int)slice.Length);
        slice.CopyTo(span);
        content.Advance((int)slice.Length);
    }

    private static byte ByteAt(ReadOnlySequence<byte> sequence, long index) =>
        sequence.IsSingleSegment ? sequence.FirstSpan[(int)index] : sequence.Slice(index, 1).FirstSpan[0];

    private static bool Contains(ReadOnlySequence<byte> sequence, byte value) => sequence.PositionOf(value) is not null;

    private void WriteReceivedHeader(MessageBuffer content, string messageId, DateTimeOffset receivedAt)
    {
        // RFC 5321 §4.4: every relay prepends a trace header. One recipient is named only when there is one, so
        // the header does not disclose Bcc recipients of a larger envelope.
        var forClause = _recipients.Count == 1 ? $"\r\n\tfor <{_recipients[0]}>" : string.Empty;
        var header = $"Received: from {_helo} ([{ClientAddress}])\r\n\tby {_server.HostName} (Elemta) with {ReceivedProtocol} id {messageId}{forClause};\r\n\t{receivedAt.ToString("ddd, dd MMM yyyy HH:mm:ss +0000", CultureInfo.InvariantCulture)}\r\n";
        content.Advance(Encoding.UTF8.GetBytes(header, content.GetSpan(Encoding.UTF8.GetMaxByteCount(header.Length))));
    }

    /// <summary>Reads one command line; null when the client has gone. Lines over 512 octets (2048 for MAIL, RCPT and AUTH, 12288 for SASL responses) are refused without being buffered.</summary>
    private async Task<string?> ReadCommandAsync()
    {
        var discarding = false;
        while (true)
        {
            var read = await ReadAsync(Options.CommandTimeout).ConfigureAwait(false);
            var buffer = read.Buffer;
            var lf = buffer.PositionOf((byte)'\n');
            if (lf is null)
            {
                if (buffer.Length > (_readingSasl ? MaxSaslLine : MaxMailCommandLine))
                {
                    // Drop what we have and keep dropping up to the end of the line.
                    discarding = true;
                    _input.AdvanceTo(buffer.End);
                }
                else
                {
                    _input.AdvanceTo(buffer.Start, buffer.End);
                }

                if (read.IsCompleted)
                {
                    return null;
                }

                continue;
            }

            var line = buffer.Slice(0, lf.Value);
            var tooLong = discarding || line.Length + 1 > (_readingSasl ? MaxSaslLine : IsLongCommand(line) ? MaxMailCommandLine : MaxCommandLine);
            // Decoded before AdvanceTo: the pipe may recycle the buffer once it is consumed.
            var text = tooLong ? LineTooLong : IsUtf8(line) ? Encoding.UTF8.GetString(line) : InvalidUtf8;
            _input.AdvanceTo(buffer.GetPosition(1, lf.Value));
            if (tooLong || ReferenceEquals(text, InvalidUtf8))
            {
                return text;
            }

            // Commands end with CRLF; a bare LF is tolerated here (as Postfix does) because it cannot smuggle content.
            return text.EndsWith('\r') ? text[..^1] : text;
        }
    }

    /// <summary>Whether a command line is valid UTF-8; vectorised, and nearly free for the ASCII lines most commands are.</summary>
    private static bool IsUtf8(ReadOnlySequence<byte> line)
    {
        if (line.IsSingleSegment)
        {
            return System.Text.Unicode.Utf8.IsValid(line.FirstSpan);
        }

        // Split across pipe segments (rare: lines are at most 12,288 octets).
        var copy = ArrayPool<byte>.Shared.Rent((int)line.Length);
        line.CopyTo(copy);
        var valid = System.Text.Unicode.Utf8.IsValid(copy.AsSpan(0, (int)line.Length));
        ArrayPool<byte>.Shared.Return(copy);
        return valid;
    }

    private async ValueTask<ReadResult> ReadAsync(TimeSpan timeout)
    {
        if (_input.TryRead(out var buffered))
        {
            return buffered;
        }

        await FlushAsync().ConfigureAwait(false);
        if (!_timeout.TryReset())
        {
            throw new OperationCanceledException(_sessionToken);
        }

        _timeout.CancelAfter(timeout);
        var result = await _input.ReadAsync(_timeout.Token).ConfigureAwait(false);
        // The clock covers waiting for the client only, not our own work (such as the commit before a 250).
        _timeout.CancelAfter(Timeout.InfiniteTimeSpan);
        return result;
    }

    private void ResetTransaction()
    {
        _mailFrom = null;
        _recipients.Clear();
        _requireTlsMessage = false;
        _declaredSize = null;
        // A BDAT transaction abandoned (RSET, a new EHLO, STARTTLS, a failed chunk): its content is no one's now.
        _chunked?.Dispose();
        _chunked = null;
        ResetDsn();
    }

    // Session ids: a counter from a random start, so the ids of two silos or two runs rarely meet in one log search.
    private static long s_lastSessionId = Random.Shared.NextInt64(1L << 40);

    // The log scope of a session: its id and the client's address on every line written while the session runs.
    private static readonly Func<ILogger, string, string, IDisposable?> SessionScope =
        LoggerMessage.DefineScope<string, string>("SessionId:{SessionId} Client:{Client}");

    /// <summary>This session's id in logs and traces (hexadecimal).</summary>
    private string SessionId => _sessionId ??= Interlocked.Increment(ref s_lastSessionId).ToString("x", CultureInfo.InvariantCulture);

    private string? _sessionId;

    private string ClientAddress => (_remote.Address.IsIPv4MappedToIPv6 ? _remote.Address.MapToIPv4() : _remote.Address).ToString();

    private void Error(int code, string enhanced, string text)
    {
        _errors++;
        Reply(code, enhanced, text);
    }

    private void Reply(int code, string? enhanced, string text)
    {
        var line = enhanced is null ? $"{code} {text}\r\n" : $"{code} {enhanced} {text}\r\n";
        SmtpMetrics.Reply(code);
        Write(line);
    }

    private void ReplyLines(int code, IReadOnlyList<string> lines)
    {
        SmtpMetrics.Reply(code);
        var builder = new StringBuilder();
        for (var i = 0; i < lines.Count; i++)
        {
            builder.Append(code).Append(i == lines.Count - 1 ? ' ' : '-').Append(lines[i]).Append("\r\n");
        }

        Write(builder.ToString());
    }

    private void Write(string text)
    {
        var span = _output.GetSpan(Encoding.UTF8.GetMaxByteCount(text.Length));
        _output.Advance(Encoding.UTF8.GetBytes(text, span));
        _pendingOutput = true;
    }

    private async ValueTask FlushAsync()
    {
        if (_pendingOutput)
        {
            _pendingOutput = false;
            // Bounded like a read: a client that pipelines without ever reading replies would otherwise hold the
            // session forever once the socket buffers fill, since the read timeouts start only after this flush.
            using var bound = CancellationTokenSource.CreateLinkedTokenSource(_sessionToken);
            bound.CancelAfter(Options.CommandTimeout);
            await _output.FlushAsync(bound.Token).ConfigureAwait(false);
        }
    }

    private async Task TryFinalReplyAsync(int code, string enhanced, string text)
    {
        try
        {
            Reply(code, enhanced, text);
            _pendingOutput = false;
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await _output.FlushAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException or System.Net.Sockets.SocketException)
        {
            // The client is gone; nothing more to say.
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "TLS with {Client}: {Protocol}, {Cipher}")]
    private partial void LogTlsEstablished(IPEndPoint client, SslProtocols protocol, TlsCipherSuite cipher);

    [LoggerMessage(Level = LogLevel.Information, Message = "TLS handshake with {Client} failed: {Reason}")]
    private partial void LogTlsFailed(IPEndPoint client, string reason);

    [LoggerMessage(Level = LogLevel.Warning, Message = "{Client} pipelined {Octets} octets after STARTTLS; discarded")]
    private partial void LogPlaintextDiscarded(IPEndPoint client, long octets);

    [LoggerMessage(Level = LogLevel.Information, Message = "Queued {MessageId} from {Client}: sender <{Sender}>, {RecipientCount} recipient(s), {Size} octets")]
    private partial void LogQueued(string messageId, IPEndPoint client, string sender, int recipientCount, int size);

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not accept {MessageId}; answered 451")]
    private partial void LogAcceptFailed(string messageId, Exception exception);

    [LoggerMessage(Level = LogLevel.Information, Message = "Connection from {Client} refused: {Reason}")]
    private partial void LogRejectedConnection(IPEndPoint client, ConnectionDenial reason);

    [LoggerMessage(Level = LogLevel.Debug, Message = "Connection from {Client} lost: {Reason}")]
    private partial void LogConnectionLost(IPEndPoint client, string reason);
}
