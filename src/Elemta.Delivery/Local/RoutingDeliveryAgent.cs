using Elemta.Contracts;
using Elemta.Delivery.Smtp;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Local;

/// <summary>
/// The <see cref="IDeliveryAgent"/> the queues use: mail for a local domain (<c>Elemta:Delivery:LocalDomains</c>) goes
/// to its Maildir or LMTP transport, everything else to SMTP. The domain queue is per domain, so one attempt never
/// mixes transports.
/// </summary>
public sealed class RoutingDeliveryAgent : IDeliveryAgent
{
    private readonly LocalDeliveryOptions _options;
    private readonly IDeliveryAgent _remote;
    private readonly IDeliveryAgent _maildir;
    private readonly IDeliveryAgent _lmtp;

    /// <summary>Routes between the three transports.</summary>
    public RoutingDeliveryAgent(IOptions<LocalDeliveryOptions> options, SmtpDeliveryAgent remote, MaildirDeliveryAgent maildir, LmtpDeliveryAgent lmtp)
        : this(options, (IDeliveryAgent)remote, maildir, lmtp)
    {
    }

    /// <summary>Routes between any three agents (tests substitute one to see which was chosen).</summary>
    internal RoutingDeliveryAgent(IOptions<LocalDeliveryOptions> options, IDeliveryAgent remote, IDeliveryAgent maildir, IDeliveryAgent lmtp)
    {
        ArgumentNullException.ThrowIfNull(options);
        _options = options.Value;
        _remote = remote;
        _maildir = maildir;
        _lmtp = lmtp;
    }

    /// <inheritdoc />
    public Task<DeliveryAttempt> DeliverAsync(DeliveryWork work, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(work);
        // A plugin's reroute names an SMTP next hop, whatever the domain's local transport.
        return (work.NextHop is null ? AgentFor(work.Domain) : _remote).DeliverAsync(work, content, cancellationToken);
    }

    /// <summary>The agent that delivers mail for <paramref name="domain"/>.</summary>
    internal IDeliveryAgent AgentFor(string domain) => _options.Find(domain)?.ParsedTransport switch
    {
        LocalTransport.Maildir => _maildir,
        LocalTransport.Lmtp => _lmtp,
        _ => _remote,
    };
}
