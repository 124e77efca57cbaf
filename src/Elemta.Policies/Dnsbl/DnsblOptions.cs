namespace Elemta.Policies.Dnsbl;

/// <summary>One DNS block list zone, section <c>Elemta:Dnsbl:Zones:&lt;zone&gt;</c>.</summary>
public sealed class DnsblZoneOptions
{
    /// <summary>
    /// The answers (A records) that mean "listed", e.g. <c>127.0.0.2</c>, <c>127.0.0.4</c>; empty: any answer in
    /// 127.0.0.0/8 (RFC 5782 §2.1). Answers outside 127.0.0.0/8 are never a listing: some lists answer errors that way.
    /// </summary>
    public List<string> ReturnCodes { get; set; } = [];
}

/// <summary>
/// DNS block lists checked when a client connects (RFC 5782), section <c>Elemta:Dnsbl</c>. Off until a zone is
/// configured. Answers come through the server's DNS lookup and are cached with their TTL.
/// </summary>
public sealed class DnsblOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Dnsbl";

    /// <summary>The zones, by name (e.g. <c>zen.spamhaus.org</c>); a client listed in any of them is refused.</summary>
    public Dictionary<string, DnsblZoneOptions> Zones { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Whether clients in the trusted networks are checked too. Default false.</summary>
    public bool CheckTrustedClients { get; set; }
}
