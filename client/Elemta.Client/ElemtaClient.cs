using System.Collections.Immutable;
using Elemta.ClusterTls;
using Elemta.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Elemta.Client;

/// <summary>
/// Submits messages to Elemta and reads their state, over an Orleans client connection to a silo's gateway.
/// Submission goes through the message grain, which stores the content and queues it exactly as the SMTP
/// front-end does.
/// </summary>
public sealed class ElemtaClient : IAsyncDisposable
{
    private readonly IGrainFactory _grains;
    private readonly IHost? _host;

    /// <summary>Wraps an existing Orleans client (for applications that host one already).</summary>
    public ElemtaClient(IGrainFactory grains)
    {
        _grains = grains ?? throw new ArgumentNullException(nameof(grains));
    }

    private ElemtaClient(IHost host)
    {
        _host = host;
        _grains = host.Services.GetRequiredService<IClusterClient>();
    }

    /// <summary>
    /// Connects to a silo on this machine through its gateway port, over mutual TLS when
    /// <see cref="ElemtaClientOptions.TlsCertificatePath"/> is set. A missing or unreadable certificate file is an
    /// <see cref="InvalidOperationException"/> naming the option.
    /// </summary>
    public static async Task<ElemtaClient> ConnectAsync(ElemtaClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ClusterCertificates? certificates = null;
        if (!string.IsNullOrWhiteSpace(options.TlsCertificatePath))
        {
            certificates = ClusterCertificates.Load(
                new ClusterTlsSettings { CertificatePath = options.TlsCertificatePath, KeyPath = options.TlsKeyPath, Password = options.TlsPassword, CaPath = options.TlsCaPath },
                nameof(ElemtaClientOptions) + ".Tls");
        }

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.SetMinimumLevel(LogLevel.Warning);
        builder.UseOrleansClient(client =>
        {
            client.UseLocalhostClustering(options.GatewayPort, options.ServiceId, options.ClusterId);
            if (certificates is not null)
            {
                client.UseClusterTls(certificates);
            }
        });
        var host = builder.Build();
        try
        {
            await host.StartAsync(cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            host.Dispose();
            throw;
        }

        return new ElemtaClient(host);
    }

    /// <summary>
    /// Queues a message for delivery and returns its queue id. <paramref name="content"/> is the whole RFC 5322
    /// message (headers and body, CRLF line endings). An empty <paramref name="sender"/> is the null sender.
    /// </summary>
    public async Task<string> SubmitAsync(string sender, IEnumerable<string> recipients, byte[] content, MessagePriority priority = MessagePriority.Normal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(recipients);
        ArgumentNullException.ThrowIfNull(content);
        var list = recipients.ToImmutableArray();
        if (list.IsEmpty)
        {
            throw new ArgumentException("At least one recipient is required.", nameof(recipients));
        }

        foreach (var address in list.Append(sender).Where(a => a.Length > 0))
        {
            var at = address.LastIndexOf('@');
            if (at <= 0 || at == address.Length - 1)
            {
                throw new ArgumentException($"'{address}' is not an address of the form local@domain.", nameof(recipients));
            }
        }

        var id = MessageIds.New();
        var envelope = new MessageEnvelope(id, sender, list, DateTimeOffset.UtcNow, "client-sdk", "client-sdk", content.Length, priority);
        await _grains.GetGrain<IMessageGrain>(id).SubmitAsync(envelope, content).WaitAsync(cancellationToken).ConfigureAwait(false);
        return id;
    }

    /// <summary>The state of a message, or null when no message has that id.</summary>
    public Task<MessageStatus?> GetMessageAsync(string messageId) =>
        _grains.GetGrain<IMessageGrain>(messageId).GetStatusAsync();

    /// <summary>A snapshot of one domain's queue.</summary>
    public Task<DomainQueueStatus> GetDomainQueueAsync(string domain) =>
        _grains.GetGrain<IDomainQueueGrain>(NormalizeDomain(domain)).GetStatusAsync();

    /// <summary>Holds, releases, retries now or deletes one message.</summary>
    public Task<QueueActionResult> ApplyToMessageAsync(string messageId, QueueAction action) =>
        _grains.GetGrain<IMessageGrain>(messageId).ApplyAsync(action);

    /// <summary>Holds, releases, retries now or deletes every message waiting in one domain's queue.</summary>
    public Task<QueueActionResult> ApplyToDomainAsync(string domain, QueueAction action) =>
        _grains.GetGrain<IDomainQueueGrain>(NormalizeDomain(domain)).ApplyAsync(action);

    /// <summary>Holds, releases, retries now or deletes every message in one queue state.</summary>
    public Task<QueueActionResult> ApplyToStateAsync(MessageQueueState state, QueueAction action) =>
        _grains.GetGrain<IQueueManagerGrain>(IQueueManagerGrain.Key).ApplyAsync(state, action);

    /// <summary>Changes the delivery priority of one message.</summary>
    public Task<QueueActionResult> SetMessagePriorityAsync(string messageId, MessagePriority priority) =>
        _grains.GetGrain<IMessageGrain>(messageId).SetPriorityAsync(priority);

    /// <summary>Every delivery attempt of a message, oldest first.</summary>
    public Task<System.Collections.Immutable.ImmutableArray<RecordedAttempt>> GetAttemptsAsync(string messageId) =>
        _grains.GetGrain<IMessageGrain>(messageId).GetAttemptsAsync();

    /// <summary>Why a message is where it is, or null when no message has that id.</summary>
    public Task<MessageExplanation?> ExplainMessageAsync(string messageId) =>
        _grains.GetGrain<IMessageGrain>(messageId).ExplainAsync();

    /// <summary>Why a domain's queue is (not) moving.</summary>
    public Task<DomainQueueExplanation> ExplainDomainAsync(string domain) =>
        _grains.GetGrain<IDomainQueueGrain>(NormalizeDomain(domain)).ExplainAsync();

    /// <summary>Queue statistics: counts per state, the busiest <paramref name="topDomains"/> domains, outcome rates.</summary>
    public Task<QueueStatistics> GetStatisticsAsync(int topDomains = 10) =>
        _grains.GetGrain<IQueueManagerGrain>(IQueueManagerGrain.Key).GetStatisticsAsync(topDomains);

    /// <summary>Messages in one state, oldest first; pass the last message's <see cref="QueuedMessage.ReceivedAt"/> for the next page.</summary>
    public Task<System.Collections.Immutable.ImmutableArray<QueuedMessage>> ListAsync(MessageQueueState state, DateTimeOffset? receivedAfter = null, int limit = 100) =>
        _grains.GetGrain<IQueueManagerGrain>(IQueueManagerGrain.Key).ListAsync(state, receivedAfter, limit);

    /// <summary>A destination site's shared limits and load, by site key (<c>mx:…</c>, <c>route:host:port</c>, <c>domain:…</c>).</summary>
    public Task<DestinationStatus> GetDestinationAsync(string site) =>
        _grains.GetGrain<IDestinationGrain>(site).GetStatusAsync();

    private static string NormalizeDomain(string domain) => domain.TrimEnd('.').ToLowerInvariant();

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            try
            {
                await _host.StopAsync().ConfigureAwait(false);
            }
            finally
            {
                _host.Dispose();
            }
        }
    }
}
