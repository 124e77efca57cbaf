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

    /// <summary>Recipients per message; more get 452 4.5.3 (RFC 5321 §4.5.3.1.8 requires at least 100).</summary>
    public int MaxRecipients { get; set; } = 100;

    /// <summary>Errors a client may make in one session before it is disconnected with 421.</summary>
    public int MaxErrors { get; set; } = 20;

    /// <summary>How long to wait for a command (RFC 5321 §4.5.3.2.7: at least 5 minutes).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>How long to wait for each block of message data (RFC 5321 §4.5.3.2.6: at least 3 minutes).</summary>
    public TimeSpan DataTimeout { get; set; } = TimeSpan.FromMinutes(3);

    /// <summary>
    /// Client networks allowed to relay to any domain, in CIDR form (like Postfix's <c>mynetworks</c>). Default:
    /// loopback only. Clients elsewhere may only send to <see cref="RelayDomains"/>.
    /// </summary>
    public List<string> RelayNetworks { get; set; } = [];

    /// <summary>Domains any client may send to (like Postfix's <c>relay_domains</c>).</summary>
    public List<string> RelayDomains { get; set; } = [];

    /// <summary>The relay networks in force: <see cref="RelayNetworks"/>, or loopback when it is empty.</summary>
    public IReadOnlyList<string> EffectiveRelayNetworks => RelayNetworks.Count > 0 ? RelayNetworks : ["127.0.0.0/8", "::1/128"];
}
