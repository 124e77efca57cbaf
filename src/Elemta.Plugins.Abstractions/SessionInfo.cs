using System.Net;

namespace Elemta.Plugins;

/// <summary>
/// One SMTP connection as plugins see it. The server updates it as the session goes on (HELO, TLS, AUTH); a hook
/// reads it only during its call. The same instance is passed to every hook of the connection.
/// </summary>
public sealed class SessionInfo
{
    internal SessionInfo(string sessionId, IPEndPoint client, IPEndPoint? local, bool submission)
    {
        SessionId = sessionId;
        Client = client;
        Local = local;
        IsSubmission = submission;
    }

    /// <summary>The session's id, as in the server's logs.</summary>
    public string SessionId { get; }

    /// <summary>The client's address and port.</summary>
    public IPEndPoint Client { get; }

    /// <summary>The server's address and port the client connected to, when known.</summary>
    public IPEndPoint? Local { get; }

    /// <summary>Whether the connection came in on the submission port (RFC 6409).</summary>
    public bool IsSubmission { get; }

    /// <summary>
    /// Whether the client is in the server's trusted networks (<c>Elemta:Smtp:TrustedNetworks</c>, loopback by
    /// default): the organisation's own hosts, as Postfix's <c>$mynetworks</c>. Mail from them is not inbound mail.
    /// </summary>
    public bool IsTrusted { get; internal set; }

    /// <summary>The server's host name, as in its greeting (and as the authserv-id of its <c>Authentication-Results</c>).</summary>
    public string ServerName { get; internal set; } = string.Empty;

    /// <summary>The name the client gave in HELO or EHLO, or null before it did (and after STARTTLS, until it does again).</summary>
    public string? HeloName { get; internal set; }

    /// <summary>Whether the client said EHLO (extended SMTP) rather than HELO.</summary>
    public bool IsExtended { get; internal set; }

    /// <summary>Whether the connection is encrypted (STARTTLS done, or an implicit-TLS port).</summary>
    public bool IsTls { get; internal set; }

    /// <summary>The TLS protocol, e.g. <c>Tls13</c>, or null without TLS.</summary>
    public string? TlsProtocol { get; internal set; }

    /// <summary>The account the client authenticated as (SMTP AUTH), or null.</summary>
    public string? AuthenticatedUser { get; internal set; }

    /// <summary>
    /// A place for plugins to keep per-connection state between hooks (e.g. a score from the connect hook read again
    /// at the message). Keys are the plugins' own; prefix them with the plugin's name.
    /// </summary>
    public IDictionary<string, object?> Items => _items ??= new Dictionary<string, object?>(StringComparer.Ordinal);

    private Dictionary<string, object?>? _items;
}

/// <summary>The result of an AUTH exchange (RFC 4954), shown to <see cref="ISmtpCommandHooks.OnAuthAsync"/>.</summary>
/// <param name="Mechanism">The SASL mechanism, e.g. <c>PLAIN</c>.</param>
/// <param name="UserName">The name the client gave, when it gave a well-formed one.</param>
/// <param name="Succeeded">Whether the credentials were accepted.</param>
public sealed record AuthAttempt(string Mechanism, string? UserName, bool Succeeded);

/// <summary>An AUTH exchange (RFC 4954) before its credentials are checked, shown to <see cref="ISmtpCommandHooks.OnAuthRequestAsync"/>.</summary>
/// <param name="Mechanism">The SASL mechanism, e.g. <c>PLAIN</c>.</param>
/// <param name="UserName">The name the client gave; null on the call made when the AUTH command starts, before the client has given one.</param>
public sealed record AuthRequest(string Mechanism, string? UserName);

/// <summary>The mail transaction in progress (MAIL FROM, then RCPT TO), shown to <see cref="IMailTransactionHooks"/>.</summary>
public sealed class MailTransaction
{
    internal MailTransaction(string sender, IReadOnlyList<string> recipients)
    {
        Sender = sender;
        Recipients = recipients;
    }

    /// <summary>The reverse path (MAIL FROM), empty for the null sender <c>&lt;&gt;</c>.</summary>
    public string Sender { get; }

    /// <summary>The recipients accepted so far (not including the one a RCPT hook is being asked about).</summary>
    public IReadOnlyList<string> Recipients { get; }
}
