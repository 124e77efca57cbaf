using Elemta.Delivery.Tls;

namespace Elemta.Delivery;

/// <summary>Outbound delivery settings (<c>Elemta:Delivery</c>).</summary>
public sealed class DeliveryOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Delivery";

    /// <summary>The name sent in EHLO. Empty means the machine's host name.</summary>
    public string? HeloName { get; set; }

    /// <summary>TCP port of MX hosts. 25 by RFC 5321; another value is only useful for tests and labs.</summary>
    public int SmtpPort { get; set; } = 25;

    /// <summary>
    /// Per-domain routes that bypass MX lookup, like Postfix's transport map: domain → <c>host:port</c>
    /// (<c>[::1]:2526</c> for IPv6 literals; the port defaults to 25).
    /// </summary>
    public Dictionary<string, string> Routes { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Smarthosts by name, for <see cref="Routes"/>, <see cref="DefaultRelay"/> and <see cref="Rules"/>.</summary>
    public Dictionary<string, RelayOptions> Relays { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The relay every domain without a route goes through (Postfix's <c>relayhost</c>); empty: MX delivery.</summary>
    public string? DefaultRelay { get; set; }

    /// <summary>Routing rules by sender, recipient domain and time of day; checked before <see cref="Routes"/>, first match wins.</summary>
    public List<RoutingRule> Rules { get; set; } = [];

    /// <summary>The time zone of <see cref="RoutingRule.Hours"/> (an IANA id); empty: UTC.</summary>
    public string? RulesTimeZone { get; set; }

    /// <summary>How long to wait for a TCP connection to one address.</summary>
    public TimeSpan ConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for each reply of the remote server (RFC 5321 §4.5.3.2 suggests minutes).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>
    /// Messages one SMTP connection carries before it is closed with QUIT and a new one opened. Connections are
    /// reused for the next message to the same destination (host, address, port); 1 turns reuse off.
    /// </summary>
    public int MaxMessagesPerConnection { get; set; } = 100;

    /// <summary>
    /// How long an idle outbound connection is kept for the next message before it is closed with QUIT. Short,
    /// because the remote server holds a process or slot for it (Postfix keeps 2 s by default).
    /// </summary>
    public TimeSpan ConnectionIdleTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Idle connections kept per destination; beyond that a finished connection is closed. 0 turns reuse off.
    /// One domain's queue never holds more than <c>Elemta:Queue:MaxConcurrentDeliveriesPerDomain</c> at once, but
    /// destinations shared by many domains (large providers' MX hosts) can use more.
    /// </summary>
    public int MaxIdleConnectionsPerDestination { get; set; } = 10;

    /// <summary>The TLS policy of domains without an entry in <see cref="TlsPolicies"/>: opportunistic STARTTLS (RFC 7435).</summary>
    public TlsPolicy DefaultTlsPolicy { get; set; } = TlsPolicy.Opportunistic;

    /// <summary>
    /// Per recipient domain TLS policy (like Postfix's <c>smtp_tls_policy_maps</c>): domain → <see cref="TlsPolicy"/>.
    /// REQUIRETLS messages and MTA-STS can only raise it.
    /// </summary>
    public Dictionary<string, TlsPolicy> TlsPolicies { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The lowest TLS version offered to remote servers.</summary>
    public MinimumTlsVersion MinimumTlsVersion { get; set; } = MinimumTlsVersion.Tls12;

    /// <summary>
    /// A PEM file of CA certificates trusted for verifying remote servers in addition to the system's roots (a
    /// private CA for internal relays; tests use it for their own root). Empty: the system's roots only.
    /// </summary>
    public string? TrustedCertificateAuthorities { get; set; }

    /// <summary>MTA-STS (RFC 8461) settings.</summary>
    public MtaStsOptions MtaSts { get; set; } = new();

    /// <summary>DANE for SMTP (RFC 7672) settings.</summary>
    public DaneOptions Dane { get; set; } = new();
}

/// <summary>DANE settings (<c>Elemta:Delivery:Dane</c>).</summary>
public sealed class DaneOptions
{
    /// <summary>
    /// Whether MX hosts' TLSA records are looked up and enforced. They are trusted only with the AD bit, so this needs
    /// a validating resolver in <c>Elemta:Dns:Servers</c>; without one DANE never applies.
    /// </summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>MTA-STS settings (<c>Elemta:Delivery:MtaSts</c>).</summary>
public sealed class MtaStsOptions
{
    /// <summary>Whether recipient domains' MTA-STS policies are looked up and enforced (not for routed domains).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Port of the policy's HTTPS server. 443 by RFC 8461; another value is only useful for tests and labs.</summary>
    public int HttpsPort { get; set; } = 443;

    /// <summary>Time allowed for fetching one policy.</summary>
    public TimeSpan FetchTimeout { get; set; } = TimeSpan.FromSeconds(30);
}

/// <summary>DNS settings (<c>Elemta:Dns</c>).</summary>
public sealed class DnsOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Dns";

    /// <summary>Name servers as <c>ip:port</c> (<c>127.0.0.1:5353</c>, <c>[::1]:53</c>). Empty: the system's resolvers.</summary>
    public List<string> Servers { get; set; } = [];

    /// <summary>Time to wait for one DNS answer.</summary>
    public TimeSpan Timeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Retries per query after a timeout.</summary>
    public int Retries { get; set; } = 2;

    /// <summary>Whether answers are cached for their TTL (positive and, with an SOA, negative ones; RFC 2308).</summary>
    public bool UseCache { get; set; } = true;

    /// <summary>Answers the cache keeps at most; the least recently used goes first.</summary>
    public int CacheMaxEntries { get; set; } = 10_000;

    /// <summary>Longest an answer is cached, whatever its TTL.</summary>
    public TimeSpan CacheMaxTtl { get; set; } = TimeSpan.FromDays(1);

    /// <summary>Longest a negative answer (NXDOMAIN, no records of the type) is cached, whatever its SOA says.</summary>
    public TimeSpan CacheMaxNegativeTtl { get; set; } = TimeSpan.FromMinutes(15);
}
