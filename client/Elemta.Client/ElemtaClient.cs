using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using MimeKit;
using MessagePriority = Elemta.Contracts.MessagePriority;
using Orleans.Runtime;

namespace Elemta.Client;

/// <summary>
/// Elemta through an Orleans client connection to the cluster's gateways: submits messages, reads and acts on the
/// queue, manages accounts and API keys. Submission goes through the message grain, which commits the content and the
/// envelope to the store before it returns, exactly as the SMTP front-end does before its <c>250</c>.
/// </summary>
public sealed class ElemtaClient : IElemtaClient, IAsyncDisposable
{
    private readonly IGrainFactory _grains;
    private readonly IHost? _host;
    private readonly TimeProvider _time;

    /// <summary>Wraps an existing Orleans client (for applications that host one already, and <c>AddElemtaClient</c>).</summary>
    public ElemtaClient(IGrainFactory grains, TimeProvider? timeProvider = null)
    {
        _grains = grains ?? throw new ArgumentNullException(nameof(grains));
        _time = timeProvider ?? TimeProvider.System;
    }

    private ElemtaClient(IHost host)
        : this(host.Services.GetRequiredService<IClusterClient>())
    {
        _host = host;
    }

    /// <summary>Who the audit log names for changes made through this client (default <c>client-sdk</c>).</summary>
    public string Actor { get; set; } = "client-sdk";

    /// <summary>How passwords set through this client are hashed; must match the silos' <c>Elemta:Auth</c>.</summary>
    public CredentialOptions Credentials { get; set; } = new();

    /// <summary>
    /// Connects to the cluster described by <paramref name="options"/> and returns once a gateway answered, over mutual
    /// TLS when <see cref="ElemtaClientOptions.TlsCertificatePath"/> is set (a missing or unreadable certificate file is
    /// an <see cref="InvalidOperationException"/> naming the option).
    /// Throws <see cref="Microsoft.Extensions.Options.OptionsValidationException"/> for invalid options and
    /// <see cref="ElemtaException"/> (<see cref="ElemtaErrorKind.Unreachable"/>) when no gateway answers within
    /// <see cref="ElemtaClientOptions.ConnectTimeout"/>.
    /// </summary>
    public static async Task<ElemtaClient> ConnectAsync(ElemtaClientOptions options, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ElemtaClientConnection.Validate(options);
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Logging.ClearProviders();
        builder.UseOrleansClient(client => ElemtaClientConnection.Configure(client, options));
        var host = builder.Build();
        try
        {
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            timeout.CancelAfter(options.ConnectTimeout);
            await host.StartAsync(timeout.Token).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            host.Dispose();
            cancellationToken.ThrowIfCancellationRequested();
            var reason = ex is OperationCanceledException ? $"no gateway answered within {options.ConnectTimeout.TotalSeconds:0} s" : FirstLine(ex.Message);
            throw new ElemtaException(ElemtaErrorKind.Unreachable, $"cannot reach the cluster ({Describe(options)}): {reason}", ex);
        }

        return new ElemtaClient(host);
    }

    /// <inheritdoc />
    public async Task<string> SubmitAsync(string sender, IEnumerable<string> recipients, byte[] content, MessagePriority priority = MessagePriority.Normal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(recipients);
        ArgumentNullException.ThrowIfNull(content);
        var list = recipients.Distinct(StringComparer.Ordinal).ToImmutableArray(); // local parts are case-sensitive (RFC 5321 §2.4)
        if (list.IsEmpty)
        {
            throw new ArgumentException("At least one recipient is required.", nameof(recipients));
        }

        foreach (var address in list.Append(sender).Where(a => a.Length > 0))
        {
            var at = address.LastIndexOf('@');
            if (at <= 0 || at == address.Length - 1 || address.Any(c => c is '<' or '>' or ' ' or '\r' or '\n'))
            {
                throw new ArgumentException($"'{address}' is not an address of the form local@domain.", nameof(recipients));
            }
        }

        var id = MessageIds.New();
        var envelope = new MessageEnvelope(id, sender, list, _time.GetUtcNow(), "client-sdk", "client-sdk", content.Length, priority);
        await CallAsync(() => _grains.GetGrain<IMessageGrain>(id).SubmitAsync(envelope, content), cancellationToken).ConfigureAwait(false);
        return id;
    }

    /// <inheritdoc />
    public async Task<string> SubmitAsync(MimeMessage message, string? sender = null, IEnumerable<string>? recipients = null, MessagePriority priority = MessagePriority.Normal, CancellationToken cancellationToken = default)
    {
        var (from, to, content) = await MimeSubmission.PrepareAsync(message, sender, recipients, cancellationToken).ConfigureAwait(false);
        return await SubmitAsync(from, to, content, priority, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<MessageStatus?> GetMessageAsync(string messageId, CancellationToken cancellationToken = default) =>
        CallAsync(() => _grains.GetGrain<IMessageGrain>(CheckId(messageId)).GetStatusAsync(), cancellationToken);

    /// <inheritdoc />
    public Task<byte[]?> GetRawMessageAsync(string messageId, CancellationToken cancellationToken = default) =>
        CallAsync(() => _grains.GetGrain<IMessageGrain>(CheckId(messageId)).GetContentAsync(), cancellationToken);

    /// <inheritdoc />
    public Task<ImmutableArray<RecordedAttempt>> GetAttemptsAsync(string messageId, CancellationToken cancellationToken = default) =>
        CallAsync(() => _grains.GetGrain<IMessageGrain>(CheckId(messageId)).GetAttemptsAsync(), cancellationToken);

    /// <inheritdoc />
    public Task<MessageExplanation?> ExplainMessageAsync(string messageId, CancellationToken cancellationToken = default) =>
        CallAsync(() => _grains.GetGrain<IMessageGrain>(CheckId(messageId)).ExplainAsync(), cancellationToken);

    /// <inheritdoc />
    public Task<DomainQueueExplanation> ExplainDomainAsync(string domain, CancellationToken cancellationToken = default) =>
        CallAsync(() => _grains.GetGrain<IDomainQueueGrain>(NormalizeDomain(domain)).ExplainAsync(), cancellationToken);

    /// <inheritdoc />
    public async Task<QueueActionResult> ApplyToMessageAsync(string messageId, QueueAction action, CancellationToken cancellationToken = default)
    {
        var grain = _grains.GetGrain<IMessageGrain>(CheckId(messageId));
        var status = await CallAsync(grain.GetStatusAsync, cancellationToken).ConfigureAwait(false)
            ?? throw new ElemtaException(ElemtaErrorKind.NotFound, $"no message {messageId}");
        if (action != QueueAction.Delete && status.State.IsFinal())
        {
            throw new ElemtaException(ElemtaErrorKind.Conflict, $"message {messageId} is {status.State.ToString().ToLowerInvariant()}: nothing is waiting");
        }

        return await CallAsync(() => grain.ApplyAsync(action), cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public Task<QueueActionResult> ApplyToDomainAsync(string domain, QueueAction action, CancellationToken cancellationToken = default) =>
        CallAsync(() => _grains.GetGrain<IDomainQueueGrain>(NormalizeDomain(domain)).ApplyAsync(action), cancellationToken);

    /// <inheritdoc />
    public Task<QueueActionResult> ApplyToStateAsync(MessageQueueState state, QueueAction action, CancellationToken cancellationToken = default) =>
        CallAsync(() => QueueManager.ApplyAsync(state, action), cancellationToken);

    /// <summary>Changes the delivery priority of one message.</summary>
    public Task<QueueActionResult> SetMessagePriorityAsync(string messageId, MessagePriority priority, CancellationToken cancellationToken = default) =>
        CallAsync(() => _grains.GetGrain<IMessageGrain>(CheckId(messageId)).SetPriorityAsync(priority), cancellationToken);

    /// <summary>A snapshot of one domain's queue.</summary>
    public Task<DomainQueueStatus> GetDomainQueueAsync(string domain, CancellationToken cancellationToken = default) =>
        CallAsync(() => _grains.GetGrain<IDomainQueueGrain>(NormalizeDomain(domain)).GetStatusAsync(), cancellationToken);

    /// <summary>A destination site's shared limits and load, by site key (<c>mx:…</c>, <c>route:host:port</c>, <c>domain:…</c>).</summary>
    public Task<DestinationStatus> GetDestinationAsync(string site, CancellationToken cancellationToken = default) =>
        CallAsync(() => _grains.GetGrain<IDestinationGrain>(site).GetStatusAsync(), cancellationToken);

    /// <inheritdoc />
    public Task<QueueStatistics> GetStatisticsAsync(int topDomains = 10, CancellationToken cancellationToken = default) =>
        CallAsync(() => QueueManager.GetStatisticsAsync(topDomains), cancellationToken);

    /// <inheritdoc />
    public async IAsyncEnumerable<QueuedMessage> ListAsync(QueueFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        var query = new QueueListQuery(filter.State, Math.Clamp(filter.PageSize, 1, 1000), filter.Newest, Sender: filter.Sender, Domain: filter.Domain is { } d ? NormalizeDomain(d) : null);
        while (true)
        {
            var page = await CallAsync(() => QueueManager.ListPageAsync(query), cancellationToken).ConfigureAwait(false);
            foreach (var message in page)
            {
                yield return message;
            }

            if (page.Length < query.Limit)
            {
                yield break;
            }

            query = query with { AfterReceivedAt = page[^1].ReceivedAt, AfterMessageId = page[^1].MessageId };
        }
    }

    /// <inheritdoc />
    public IAsyncEnumerable<DeliveryEvent> WatchAsync(string messageId, TimeSpan? pollInterval = null, CancellationToken cancellationToken = default) =>
        DeliveryWatch.RunAsync(messageId, GetMessageAsync, _time, pollInterval, cancellationToken);

    /// <inheritdoc />
    public async Task<ImmutableArray<ElemtaUser>> ListUsersAsync(CancellationToken cancellationToken = default)
    {
        var names = await CallAsync(() => _grains.GetGrain<IUserDirectoryGrain>(IUserDirectoryGrain.Key).ListAsync(), cancellationToken).ConfigureAwait(false);
        var users = ImmutableArray.CreateBuilder<ElemtaUser>(names.Length);
        foreach (var name in names)
        {
            if (await GetUserAsync(name, cancellationToken).ConfigureAwait(false) is { } user)
            {
                users.Add(user);
            }
        }

        return users.ToImmutable();
    }

    /// <inheritdoc />
    public async Task<ElemtaUser?> GetUserAsync(string name, CancellationToken cancellationToken = default)
    {
        var account = await CallAsync(() => User(name).GetAsync(), cancellationToken).ConfigureAwait(false);
        return account is null ? null : new ElemtaUser(account.Name, account.Roles.IsDefault ? [] : account.Roles, account.AllowedSenders.IsDefault ? [] : account.AllowedSenders, account.CreatedAt, account.ChangedAt);
    }

    /// <inheritdoc />
    public async Task<string?> CreateUserAsync(string name, IEnumerable<UserRole> roles, IEnumerable<string> allowedSenders, string? password = null, CancellationToken cancellationToken = default)
    {
        var (roleList, senders) = CheckAccount(roles, allowedSenders);
        var secret = password ?? Passwords.Generate();
        CheckPassword(secret);
        var credentials = Passwords.CreateCredentials(secret, Credentials);
        if (!await CallAsync(() => User(name).CreateAsync(roleList, senders, credentials, Actor), cancellationToken).ConfigureAwait(false))
        {
            throw new ElemtaException(ElemtaErrorKind.Conflict, $"user '{UserKey(name)}' already exists");
        }

        return password is null ? secret : null;
    }

    /// <inheritdoc />
    public async Task<string?> SetPasswordAsync(string name, string? password = null, CancellationToken cancellationToken = default)
    {
        var secret = password ?? Passwords.Generate();
        CheckPassword(secret);
        var credentials = Passwords.CreateCredentials(secret, Credentials);
        if (!await CallAsync(() => User(name).SetCredentialsAsync(credentials, Actor), cancellationToken).ConfigureAwait(false))
        {
            throw new ElemtaException(ElemtaErrorKind.NotFound, $"no user '{UserKey(name)}'");
        }

        return password is null ? secret : null;
    }

    /// <inheritdoc />
    public async Task UpdateUserAsync(string name, IEnumerable<UserRole> roles, IEnumerable<string> allowedSenders, CancellationToken cancellationToken = default)
    {
        var (roleList, senders) = CheckAccount(roles, allowedSenders);
        if (!await CallAsync(() => User(name).UpdateAsync(roleList, senders, Actor), cancellationToken).ConfigureAwait(false))
        {
            throw new ElemtaException(ElemtaErrorKind.NotFound, $"no user '{UserKey(name)}'");
        }
    }

    /// <inheritdoc />
    public async Task DeleteUserAsync(string name, CancellationToken cancellationToken = default)
    {
        if (!await CallAsync(() => User(name).DeleteAsync(Actor), cancellationToken).ConfigureAwait(false))
        {
            throw new ElemtaException(ElemtaErrorKind.NotFound, $"no user '{UserKey(name)}'");
        }
    }

    /// <inheritdoc />
    public async Task<ImmutableArray<ElemtaApiKey>> ListApiKeysAsync(CancellationToken cancellationToken = default)
    {
        var now = _time.GetUtcNow();
        var keys = await CallAsync(() => ApiKeyRegistry.ListAsync(), cancellationToken).ConfigureAwait(false);
        return [.. keys.Select(k => ToModel(k, now))];
    }

    /// <inheritdoc />
    public async Task<CreatedApiKey> CreateApiKeyAsync(UserRole role, string name, TimeSpan? expiresIn = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (expiresIn is { } e && e <= TimeSpan.Zero)
        {
            throw new ElemtaException(ElemtaErrorKind.Invalid, "an API key's lifetime must be positive");
        }

        var now = _time.GetUtcNow();
        var (key, record) = ApiKeys.Create(name, role, now, Actor, expiresIn is { } lifetime ? now + lifetime : null);
        if (!await CallAsync(() => ApiKeyRegistry.CreateAsync(record, Actor), cancellationToken).ConfigureAwait(false))
        {
            throw new ElemtaException(ElemtaErrorKind.Conflict, "key id collision; try again");
        }

        return new CreatedApiKey(ToModel(record, now), key);
    }

    /// <inheritdoc />
    public async Task RevokeApiKeyAsync(string id, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(id);
        var existing = await CallAsync(() => ApiKeyRegistry.FindAsync(id), cancellationToken).ConfigureAwait(false)
            ?? throw new ElemtaException(ElemtaErrorKind.NotFound, $"no API key '{id}'");
        if (existing.RevokedAt is not null || !await CallAsync(() => ApiKeyRegistry.RevokeAsync(id, Actor), cancellationToken).ConfigureAwait(false))
        {
            throw new ElemtaException(ElemtaErrorKind.Conflict, $"API key '{id}' is already revoked");
        }
    }

    /// <inheritdoc />
    public async Task<ImmutableArray<ElemtaSilo>> GetClusterAsync(CancellationToken cancellationToken = default)
    {
        var management = _grains.GetGrain<IManagementGrain>(0);
        var hosts = await CallAsync(() => management.GetDetailedHosts(false, cancellationToken), cancellationToken).ConfigureAwait(false);
        var active = hosts.Where(h => h.Status == SiloStatus.Active).Select(h => h.SiloAddress).ToArray();
        var statistics = active.Length == 0 ? [] : await CallAsync(() => management.GetRuntimeStatistics(active, cancellationToken), cancellationToken).ConfigureAwait(false);
        var byAddress = active.Zip(statistics).ToDictionary(p => p.First, p => p.Second);
        return
        [
            .. hosts
                .OrderBy(h => h.Status == SiloStatus.Active ? 0 : 1).ThenByDescending(h => h.StartTime)
                .Select(h =>
                {
                    var stats = byAddress.GetValueOrDefault(h.SiloAddress);
                    return new ElemtaSilo(
                        h.SiloAddress.ToParsableString(),
                        h.SiloName,
                        h.HostName,
                        h.Status.ToString(),
                        new DateTimeOffset(DateTime.SpecifyKind(h.StartTime, DateTimeKind.Utc)),
                        h.IAmAliveTime == default ? null : new DateTimeOffset(DateTime.SpecifyKind(h.IAmAliveTime, DateTimeKind.Utc)),
                        stats?.ActivationCount,
                        stats?.ClientCount,
                        stats?.IsOverloaded);
                }),
        ];
    }

    /// <inheritdoc />
    public Task<AccessList> GetAccessListAsync(CancellationToken cancellationToken = default) =>
        CallAsync(() => AccessListGrain.GetAsync(), cancellationToken);

    /// <inheritdoc />
    public async Task<AccessListEntry> SetAccessListEntryAsync(string network, AccessListAction action, string? comment = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        var change = await CallAsync(() => AccessListGrain.SetAsync(network, action, comment ?? string.Empty, Actor), cancellationToken).ConfigureAwait(false);
        return change.Entry ?? throw new ElemtaException(ElemtaErrorKind.Invalid, change.Error ?? $"network '{network}' was refused");
    }

    /// <inheritdoc />
    public async Task RemoveAccessListEntryAsync(string network, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(network);
        var change = await CallAsync(() => AccessListGrain.RemoveAsync(network, Actor), cancellationToken).ConfigureAwait(false);
        switch (change.Status)
        {
            case AccessListChangeStatus.NotFound:
                throw new ElemtaException(ElemtaErrorKind.NotFound, $"the access list has no entry for {change.Network}");
            case AccessListChangeStatus.InvalidNetwork or AccessListChangeStatus.Invalid:
                throw new ElemtaException(ElemtaErrorKind.Invalid, change.Error ?? $"network '{network}' was refused");
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        if (_host is not null)
        {
            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                await _host.StopAsync(stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // A slow goodbye to the gateway changes nothing for the caller.
            }
            finally
            {
                _host.Dispose();
            }
        }
    }

    internal static ElemtaApiKey ToModel(ApiKeyRecord record, DateTimeOffset now) =>
        new(record.Id, record.Name, record.Role,
            record.RevokedAt is not null ? ApiKeyState.Revoked : record.ExpiresAt is { } at && at <= now ? ApiKeyState.Expired : ApiKeyState.Active,
            record.CreatedAt, record.CreatedBy, record.ExpiresAt, record.RevokedAt);

    private IQueueManagerGrain QueueManager => _grains.GetGrain<IQueueManagerGrain>(IQueueManagerGrain.Key);

    private IApiKeyRegistryGrain ApiKeyRegistry => _grains.GetGrain<IApiKeyRegistryGrain>(IApiKeyRegistryGrain.Key);

    private IAccessListGrain AccessListGrain => _grains.GetGrain<IAccessListGrain>(IAccessListGrain.DefaultKey);

    private IUserGrain User(string name) => _grains.GetGrain<IUserGrain>(UserKey(name));

    private static string UserKey(string name) =>
        Passwords.NormalizeUserName(name, out var error) ?? throw new ElemtaException(ElemtaErrorKind.Invalid, error ?? $"'{name}' is not a user name");

    private static void CheckPassword(string password)
    {
        if (Passwords.Check(password) is { } problem)
        {
            throw new ElemtaException(ElemtaErrorKind.Invalid, problem);
        }
    }

    private static (ImmutableArray<UserRole> Roles, ImmutableArray<string> Senders) CheckAccount(IEnumerable<UserRole> roles, IEnumerable<string> allowedSenders)
    {
        ArgumentNullException.ThrowIfNull(roles);
        ArgumentNullException.ThrowIfNull(allowedSenders);
        var roleList = roles.Distinct().ToImmutableArray();
        if (roleList.IsEmpty)
        {
            throw new ElemtaException(ElemtaErrorKind.Invalid, "an account needs at least one role");
        }

        var senders = allowedSenders.ToImmutableArray();
        if (senders.Select(SenderRules.Check).FirstOrDefault(p => p is not null) is { } bad)
        {
            throw new ElemtaException(ElemtaErrorKind.Invalid, bad);
        }

        return (roleList, senders);
    }

    private static string CheckId(string messageId)
    {
        ArgumentNullException.ThrowIfNull(messageId);
        return messageId.Length is > 0 and <= 64 && messageId.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.')
            ? messageId
            : throw new ElemtaException(ElemtaErrorKind.Invalid, $"'{messageId}' is not a message id");
    }

    private static string NormalizeDomain(string domain)
    {
        ArgumentNullException.ThrowIfNull(domain);
        var key = domain.Trim().TrimEnd('.').ToLowerInvariant();
        return key.Length > 0 && !key.Contains('@', StringComparison.Ordinal) && !key.Any(char.IsWhiteSpace)
            ? key
            : throw new ElemtaException(ElemtaErrorKind.Invalid, $"'{domain}' is not a domain");
    }

    private static string Describe(ElemtaClientOptions options) => options.Clustering switch
    {
        ElemtaClustering.StaticGateways => $"gateways {string.Join(", ", options.Gateways)}",
        ElemtaClustering.PostgreSql => "gateways from the PostgreSQL membership table",
        _ => $"gateway port {options.GatewayPort} on this machine",
    };

    private static string FirstLine(string text) => text.Split('\n', 2)[0].Trim();

    /// <summary>Runs a grain call, turning Orleans' connection failures into <see cref="ElemtaErrorKind.Unreachable"/>.</summary>
    private static async Task<T> CallAsync<T>(Func<Task<T>> call, CancellationToken cancellationToken)
    {
        try
        {
            return await call().WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is SiloUnavailableException or Orleans.Runtime.Messaging.ConnectionFailedException or OrleansMessageRejectionException or TimeoutException)
        {
            throw new ElemtaException(ElemtaErrorKind.Unreachable, $"the cluster did not answer: {FirstLine(ex.Message)}", ex);
        }
    }

    private static async Task CallAsync(Func<Task> call, CancellationToken cancellationToken) =>
        await CallAsync(async () =>
        {
            await call().ConfigureAwait(false);
            return true;
        }, cancellationToken).ConfigureAwait(false);
}
