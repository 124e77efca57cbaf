using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>
/// The SMTP envelope of one accepted message: who sent it, to whom, and how it reached us.
/// The message content is not part of the envelope; it lives once in the message store under
/// <see cref="MessageId"/>.
/// </summary>
/// <param name="MessageId">Queue id assigned at acceptance; also the <c>MessageGrain</c> key and message store key.</param>
/// <param name="Sender">The reverse-path from MAIL FROM; empty for the null sender <c>&lt;&gt;</c>.</param>
/// <param name="Recipients">Forward-paths from RCPT TO, in the order given, without duplicates.</param>
/// <param name="ReceivedAt">When the message was accepted (the 250 to DATA).</param>
/// <param name="ClientAddress">IP address of the SMTP client, or the submitting API client.</param>
/// <param name="HeloName">Name the client gave in EHLO/HELO.</param>
/// <param name="Size">Size of the stored message in octets.</param>
/// <param name="Priority">Delivery priority.</param>
[GenerateSerializer, Immutable, Alias("elemta.MessageEnvelope")]
public sealed record MessageEnvelope(
    [property: Id(0)] string MessageId,
    [property: Id(1)] string Sender,
    [property: Id(2)] ImmutableArray<string> Recipients,
    [property: Id(3)] DateTimeOffset ReceivedAt,
    [property: Id(4)] string ClientAddress,
    [property: Id(5)] string HeloName,
    [property: Id(6)] long Size,
    [property: Id(7)] MessagePriority Priority)
{
    /// <summary>The distinct recipient domains, lower case: the keys of the domain queues this message joins.</summary>
    public IEnumerable<string> RecipientDomains() => Recipients.Select(DomainOf).Distinct(StringComparer.Ordinal);

    /// <summary>The domain of <paramref name="address"/> in lower case, without a trailing dot.</summary>
    public static string DomainOf(string address)
    {
        ArgumentNullException.ThrowIfNull(address);
        var at = address.LastIndexOf('@');
        return (at >= 0 ? address[(at + 1)..] : address).TrimEnd('.').ToLowerInvariant();
    }
}
