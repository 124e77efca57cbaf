namespace Elemta.Testing;

/// <summary>A question received by <see cref="LoopbackDnsServer"/>.</summary>
/// <param name="Name">The queried name, lower-cased and without the trailing dot (empty for the root).</param>
/// <param name="Type">The QTYPE.</param>
public sealed record DnsQuestion(string Name, DnsRecordType Type);
