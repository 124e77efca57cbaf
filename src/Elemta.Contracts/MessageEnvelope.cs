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
/// <param name="RequireTls">The message was received with REQUIRETLS (RFC 8689): relay it only over verified TLS.</param>
/// <param name="Dsn">DSN parameters given with MAIL and RCPT (RFC 3461), kept for bounces; null when none were given.</param>
/// <param name="HoldReason">Set when a plugin quarantined the message at acceptance: it was queued held, and is not delivered until an operator releases it.</param>
[GenerateSerializer, Immutable, Alias("elemta.MessageEnvelope")]
public sealed record MessageEnvelope(
    [property: Id(0)] string MessageId,
    [property: Id(1)] string Sender,
    [property: Id(2)] ImmutableArray<string> Recipients,
    [property: Id(3)] DateTimeOffset ReceivedAt,
    [property: Id(4)] string ClientAddress,
    [property: Id(5)] string HeloName,
    [property: Id(6)] long Size,
    [property: Id(7)] MessagePriority Priority,
    [property: Id(8)] bool RequireTls = false,
    [property: Id(9)] DsnParameters? Dsn = null,
    [property: Id(10)] string? HoldReason = null)
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

/// <summary>Delivery status notification parameters of one message (RFC 3461 §4).</summary>
/// <param name="Return">RET: <c>FULL</c> or <c>HDRS</c>, or null when not given.</param>
/// <param name="EnvelopeId">ENVID, decoded from xtext, or null.</param>
/// <param name="Recipients">Per-recipient NOTIFY and ORCPT, only for recipients that gave any.</param>
[GenerateSerializer, Immutable, Alias("elemta.DsnParameters")]
public sealed record DsnParameters(
    [property: Id(0)] string? Return,
    [property: Id(1)] string? EnvelopeId,
    [property: Id(2)] ImmutableArray<RecipientDsn> Recipients);

/// <summary>DSN parameters of one recipient (RFC 3461 §4.1, §4.2).</summary>
/// <param name="Address">The recipient as given in RCPT TO.</param>
/// <param name="Notify">NOTIFY: <c>NEVER</c>, or a comma-separated subset of <c>SUCCESS</c>, <c>FAILURE</c>, <c>DELAY</c>; null when not given.</param>
/// <param name="OriginalRecipient">ORCPT as <c>addr-type;address</c>, decoded from xtext; null when not given.</param>
[GenerateSerializer, Immutable, Alias("elemta.RecipientDsn")]
public sealed record RecipientDsn(
    [property: Id(0)] string Address,
    [property: Id(1)] string? Notify,
    [property: Id(2)] string? OriginalRecipient);
