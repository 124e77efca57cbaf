namespace Elemta.MailAuth.Spf;

/// <summary>
/// Name servers and timeouts for <see cref="DnsClientSpfDns"/>. The same shape as outbound delivery's <c>Elemta:Dns</c>
/// (Elemta.Delivery's DnsOptions) so a host can fill it from that section; it is a type of its own because this library
/// must not depend on Elemta.Delivery (which brings the Orleans contracts).
/// </summary>
public sealed class SpfDnsOptions
{
    /// <summary>Name servers as <c>ip</c> or <c>ip:port</c> (<c>127.0.0.1:5353</c>, <c>[::1]:53</c>). Empty: the system's resolvers.</summary>
    public IList<string> Servers { get; init; } = [];

    /// <summary>Time to wait for one DNS answer; a query that gets none is a temperror (RFC 7208 §5 ¶8).</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(5);

    /// <summary>Retries per query after a timeout.</summary>
    public int Retries { get; init; } = 2;
}
