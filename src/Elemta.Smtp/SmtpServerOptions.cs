using Elemta.Smtp.Tls;

namespace Elemta.Smtp;

/// <summary>SMTP front-end settings (<c>Elemta:Smtp</c>).</summary>
public sealed class SmtpServerOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Smtp";

    /// <summary>TCP port. 25 by default; <c>--dev</c> makes it 2525 and <c>--port</c> sets it.</summary>
    public int Port { get; set; } = 25;

    /// <summary>Addresses to listen on. Empty: every IPv4 and IPv6 address.</summary>
    public List<string> ListenAddresses { get; set; } = [];

    /// <summary>The server's name in the greeting, EHLO reply and Received header. Empty: the machine's host name.</summary>
    public string? HostName { get; set; }

    /// <summary>Text after the host name in the 220 greeting.</summary>
    public string Banner { get; set; } = "ESMTP Elemta";

    /// <summary>Largest message accepted, in octets (advertised with SIZE, RFC 1870).</summary>
    public long MaxMessageSize { get; set; } = 25 * 1024 * 1024;

    /// <summary>
    /// Longest text line accepted in message content, in octets without the CRLF. RFC 5321 §4.5.3.1.6 sets 998 as
    /// what every receiver must take, but generated HTML and unwrapped data URIs exceed it in real mail, and
    /// refusing them bounces mail its sender cannot fix (Postfix accepts such lines too: <c>line_length_limit</c>).
    /// Longer lines are stored as they are and re-encoded when relayed (see the delivery agent); a line over this
    /// limit makes the message refused with <c>554 5.6.0</c> at the end of DATA. Header lines stay limited to 998
    /// octets (RFC 5322 §2.1.1). Default 1 MiB.
    /// </summary>
    public int MaxLineLength { get; set; } = 1024 * 1024;

    /// <summary>Recipients per message; more get 452 4.5.3 (RFC 5321 §4.5.3.1.8 requires at least 100).</summary>
    public int MaxRecipients { get; set; } = 100;

    /// <summary>Errors a client may make in one session before it is disconnected with 421.</summary>
    public int MaxErrors { get; set; } = 20;

    /// <summary>How long to wait for a command (RFC 5321 §4.5.3.2.7: at least 5 minutes).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long to wait for each block of message data (RFC 5321 §4.5.3.2.6: at least 3 minutes).</summary>
    public TimeSpan DataTimeout { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Longest a whole session may last, whatever the client does; then <c>421 4.4.2</c> and close. Bounds a client
    /// that keeps a connection busy with slow but timely commands.
    /// </summary>
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromMinutes(30);

    /// <summary>
    /// Pause before the 220 greeting during which the client must stay silent (RFC 5321 §4.3.1); a client that
    /// talks first gets <c>554 5.5.0</c> and is disconnected, like Postfix postscreen's pregreet test.
    /// <see cref="TimeSpan.Zero"/> (the default) greets at once. One second is a common production value.
    /// </summary>
    public TimeSpan GreetingDelay { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// Longest the 250 waits, once the message is committed, for the message grain to take charge of it and wake its
    /// domain queues. Past it (or if the call fails) the 250 goes out anyway and the queue sweep delivers the message
    /// within <c>Elemta:Queue:SweepInterval</c>. <see cref="TimeSpan.Zero"/> does not wait at all.
    /// </summary>
    public TimeSpan WakeTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Disconnect a client that sends commands after the end of DATA before reading its reply, when it is neither
    /// authenticated nor in <see cref="TrustedNetworks"/>: it gets <c>554 5.5.0 Error: SMTP protocol
    /// synchronization</c> and the message is not queued, as with Postfix 3.9's <c>smtpd_forbid_unauth_pipelining</c>.
    /// RFC 2920 allows no command after the message content in the same group, and such input is what SMTP
    /// smuggling attempts look like. Clients that wait for the reply (RFC 2920 pipelining included) are unaffected,
    /// and so is BDAT, which RFC 3030 designed to be pipelined.
    /// </summary>
    public bool ForbidUnauthPipelining { get; set; } = true;

    /// <summary>Messages accepted in one connection; the next MAIL gets <c>421 4.7.0</c> and the connection closes.</summary>
    public int MaxMessagesPerConnection { get; set; } = 100;

    /// <summary>
    /// Client networks trusted to relay to any domain without AUTH, in CIDR form (like Postfix's <c>mynetworks</c>).
    /// Default: loopback only. Other clients may send only to <see cref="RelayDomains"/> unless they authenticate.
    /// </summary>
    public List<string> TrustedNetworks { get; set; } = [];

    /// <summary>
    /// The former name of <see cref="TrustedNetworks"/>, still read so existing configuration keeps working. Setting
    /// both is a configuration error.
    /// </summary>
    public List<string> RelayNetworks { get; set; } = [];

    /// <summary>
    /// Domains Elemta accepts mail for from any client (its local domains and those it relays for, like Postfix's
    /// <c>mydestination</c> plus <c>relay_domains</c>).
    /// </summary>
    public List<string> RelayDomains { get; set; } = [];

    /// <summary>
    /// The domains delivered on this system (the keys of <c>Elemta:Delivery:LocalDomains</c>), which take mail from
    /// any client like <see cref="RelayDomains"/> without being listed there again, as Postfix's <c>mydestination</c>
    /// does. Filled at start from that section, not bound from <c>Elemta:Smtp</c>.
    /// </summary>
    public IReadOnlyList<string> LocalDomains { get; internal set; } = [];

    /// <summary>
    /// SMTP connections open at once on this front-end (each silo counts its own, like Postfix's smtpd process
    /// limit); over it a new client gets <c>421 4.7.0</c> and is disconnected.
    /// </summary>
    public int MaxConnections { get; set; } = 1000;

    /// <summary>SMTP connections open at once from one client address, cluster-wide (<c>connections:&lt;ip&gt;</c>).</summary>
    public int MaxConnectionsPerIp { get; set; } = 20;

    /// <summary>
    /// Whether clients in the trusted networks (<see cref="EffectiveTrustedNetworks"/>) skip the per-address limits
    /// (<see cref="MaxConnectionsPerIp"/> and the <c>Elemta:RateLimit:ConnectionsPerIp</c> rate), as Postfix exempts
    /// <c>$mynetworks</c> by default; <see cref="MaxConnections"/> still counts them.
    /// </summary>
    public bool TrustedNetworksBypassConnectionLimits { get; set; } = true;

    /// <summary>
    /// How long a connection's place in those counts lasts unless renewed; sessions renew it every third of this.
    /// The places of a front-end that crashed are free again after at most this long.
    /// </summary>
    public TimeSpan ConnectionLeaseTime { get; set; } = TimeSpan.FromMinutes(2);

    /// <summary>
    /// Whether the submission listener (<see cref="SubmissionPort"/>) refuses MAIL before AUTH (<c>530 5.7.0</c>,
    /// RFC 6409 §4.3); <c>--no-auth-required</c> sets it to false, and submission then follows port 25's relay rules.
    /// Port 25 never requires AUTH: it must take mail for <see cref="RelayDomains"/> from anyone.
    /// </summary>
    public bool AuthRequired { get; set; } = true;

    /// <summary>
    /// Port of the message submission listener (RFC 6409, usually 587): the same server, but MAIL needs AUTH first
    /// (see <see cref="AuthRequired"/>). Empty or 0: none.
    /// </summary>
    public int? SubmissionPort { get; set; }

    /// <summary>
    /// SASL mechanisms offered to AUTH (RFC 4954): any of <c>SCRAM-SHA-256</c>, <c>CRAM-MD5</c>, <c>PLAIN</c>,
    /// <c>LOGIN</c>. Empty: all four. An empty list of accounts still offers them; every attempt then fails.
    /// </summary>
    public List<string> AuthMechanisms { get; set; } = [];

    /// <summary>
    /// Offer PLAIN and LOGIN, which send the password itself, on connections without TLS. Off by default: they are
    /// offered only after STARTTLS (or on the implicit-TLS port). <c>--dev</c> and <c>--no-auth-required</c> turn it on.
    /// </summary>
    public bool AllowPlaintextAuth { get; set; }

    /// <summary>
    /// Whether an authenticated client may use only the MAIL FROM addresses its account allows (its allowed senders);
    /// others get <c>553 5.7.1</c>.
    /// </summary>
    public bool RestrictSenders { get; set; } = true;

    /// <summary>The server certificate for STARTTLS (RFC 3207) and implicit TLS.</summary>
    public SmtpTlsOptions Tls { get; set; } = new();

    /// <summary>Refuse mail transactions before STARTTLS (<c>530 5.7.0</c>). Needs a certificate.</summary>
    public bool RequireTls { get; set; }

    /// <summary>Port of an implicit-TLS listener (RFC 8314, usually 465); 0 or empty: none. Needs a certificate.</summary>
    public int? ImplicitTlsPort { get; set; }

    /// <summary>Every mechanism Elemta implements, strongest first (the order they are advertised in).</summary>
    public static readonly IReadOnlyList<string> KnownAuthMechanisms = ["SCRAM-SHA-256", "CRAM-MD5", "PLAIN", "LOGIN"];

    /// <summary>
    /// The trusted networks in force: <see cref="TrustedNetworks"/>, else <see cref="RelayNetworks"/>, else loopback.
    /// </summary>
    public IReadOnlyList<string> EffectiveTrustedNetworks =>
        TrustedNetworks.Count > 0 ? TrustedNetworks : RelayNetworks.Count > 0 ? RelayNetworks : ["127.0.0.0/8", "::1/128"];

    /// <summary>The mechanisms in force, upper case, in <see cref="KnownAuthMechanisms"/> order.</summary>
    public IReadOnlyList<string> EffectiveAuthMechanisms =>
        AuthMechanisms.Count == 0 ? KnownAuthMechanisms : [.. KnownAuthMechanisms.Where(m => AuthMechanisms.Contains(m, StringComparer.OrdinalIgnoreCase))];
}
