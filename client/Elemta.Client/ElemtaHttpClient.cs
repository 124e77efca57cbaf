using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Runtime.CompilerServices;
using System.Text;
using System.Text.Json;
using System.Text.Json.Serialization;
using Elemta.Contracts;
using MimeKit;
using MessagePriority = Elemta.Contracts.MessagePriority;

namespace Elemta.Client;

/// <summary>
/// Elemta through its REST API (docs/api.md), for callers outside the cluster's network: the same operations and
/// model types as <see cref="ElemtaClient"/>; submission is <c>POST /api/messages</c> (operator role). Authenticates with
/// an API key (bearer token) or an account (HTTP Basic); what a call may do depends on the role
/// (viewer ⊆ operator ⊆ admin). Problem details answers become <see cref="ElemtaException"/>s with their detail.
/// </summary>
public sealed class ElemtaHttpClient : IElemtaClient, IDisposable
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.CamelCase) },
    };

    private readonly HttpClient _http;
    private readonly bool _ownsHttp;
    private readonly TimeProvider _time;

    /// <summary>
    /// Uses <paramref name="httpClient"/> as configured by the caller: its <see cref="HttpClient.BaseAddress"/> is the
    /// silo's admin address (e.g. <c>http://127.0.0.1:8025/</c>) and its default headers carry the credentials.
    /// </summary>
    public ElemtaHttpClient(HttpClient httpClient, TimeProvider? timeProvider = null)
    {
        _http = httpClient ?? throw new ArgumentNullException(nameof(httpClient));
        _time = timeProvider ?? TimeProvider.System;
        if (_http.BaseAddress is null)
        {
            throw new ArgumentException("The HttpClient needs a BaseAddress (the silo's admin URL).", nameof(httpClient));
        }
    }

    private ElemtaHttpClient(HttpClient httpClient, bool owns)
        : this(httpClient)
    {
        _ownsHttp = owns;
    }

    /// <summary>A client for <paramref name="baseAddress"/> that presents <paramref name="apiKey"/> as a bearer token.</summary>
    public static ElemtaHttpClient WithApiKey(Uri baseAddress, string apiKey)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(apiKey);
        var http = Create(baseAddress);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        return new ElemtaHttpClient(http, owns: true);
    }

    /// <summary>A client for <paramref name="baseAddress"/> that signs in as an account with HTTP Basic.</summary>
    public static ElemtaHttpClient WithAccount(Uri baseAddress, string user, string password)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(user);
        ArgumentNullException.ThrowIfNull(password);
        var http = Create(baseAddress);
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));
        return new ElemtaHttpClient(http, owns: true);
    }

    /// <inheritdoc />
    /// <remarks>
    /// <c>POST /api/messages</c> with the content as <c>message/rfc822</c>; the silo answers 201 only after the message
    /// is stored durably. Addresses and size are checked by the silo (400, 413: <see cref="ElemtaErrorKind.Invalid"/>).
    /// </remarks>
    public async Task<string> SubmitAsync(string sender, IEnumerable<string> recipients, byte[] content, MessagePriority priority = MessagePriority.Normal, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(sender);
        ArgumentNullException.ThrowIfNull(recipients);
        ArgumentNullException.ThrowIfNull(content);
        var list = recipients.Distinct(StringComparer.Ordinal).ToList();
        if (list.Count == 0)
        {
            throw new ArgumentException("At least one recipient is required.", nameof(recipients));
        }

        var query = new StringBuilder("api/messages?from=").Append(Uri.EscapeDataString(sender));
        foreach (var recipient in list)
        {
            Append(query, "to", recipient);
        }

        Append(query, "priority", priority.ToString().ToLowerInvariant());
        var body = new ByteArrayContent(content);
        body.Headers.ContentType = new MediaTypeHeaderValue("message/rfc822");
        using var response = await SendRawAsync(HttpMethod.Post, query.ToString(), body, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        var submitted = await response.Content.ReadFromJsonAsync<SubmittedDto>(Json, cancellationToken).ConfigureAwait(false);
        return submitted?.MessageId ?? throw new ElemtaException(ElemtaErrorKind.Failed, "POST api/messages: empty answer");
    }

    /// <inheritdoc />
    public async Task<string> SubmitAsync(MimeMessage message, string? sender = null, IEnumerable<string>? recipients = null, MessagePriority priority = MessagePriority.Normal, CancellationToken cancellationToken = default)
    {
        var (from, to, content) = await MimeSubmission.PrepareAsync(message, sender, recipients, cancellationToken).ConfigureAwait(false);
        return await SubmitAsync(from, to, content, priority, cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task<QueueStatistics> GetStatisticsAsync(int topDomains = 10, CancellationToken cancellationToken = default)
    {
        var stats = await GetAsync<StatsDto>("api/queue/stats", cancellationToken).ConfigureAwait(false);
        var counts = ImmutableDictionary.CreateRange(new Dictionary<MessageQueueState, long>
        {
            [MessageQueueState.Active] = stats.Messages.Active,
            [MessageQueueState.Deferred] = stats.Messages.Deferred,
            [MessageQueueState.Held] = stats.Messages.Held,
            [MessageQueueState.Failed] = stats.Messages.Failed,
            [MessageQueueState.Delivered] = stats.Messages.Delivered,
        });
        return new QueueStatistics(counts, stats.OldestPendingReceivedAt, [.. stats.TopDomains.Take(topDomains)], stats.LastMinute, stats.LastHour);
    }

    /// <inheritdoc />
    public async IAsyncEnumerable<QueuedMessage> ListAsync(QueueFilter filter, [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(filter);
        string? cursor = null;
        do
        {
            var query = new StringBuilder($"api/queue/{StatePath(filter.State)}?limit={Math.Clamp(filter.PageSize, 1, 1000).ToString(CultureInfo.InvariantCulture)}");
            Append(query, "cursor", cursor);
            Append(query, "sort", filter.Newest ? "newest" : null);
            Append(query, "sender", filter.Sender);
            Append(query, "domain", filter.Domain);
            var page = await GetAsync<PageDto>(query.ToString(), cancellationToken).ConfigureAwait(false);
            foreach (var message in page.Items)
            {
                yield return message;
            }

            cursor = page.NextCursor;
        }
        while (cursor is not null);
    }

    /// <inheritdoc />
    public async Task<MessageStatus?> GetMessageAsync(string messageId, CancellationToken cancellationToken = default) =>
        (await GetDetailAsync(messageId, cancellationToken).ConfigureAwait(false)) is { } detail ? new MessageStatus(detail.Envelope, detail.State, detail.Recipients) : null;

    /// <inheritdoc />
    public async Task<ImmutableArray<RecordedAttempt>> GetAttemptsAsync(string messageId, CancellationToken cancellationToken = default)
    {
        var detail = await GetDetailAsync(messageId, cancellationToken).ConfigureAwait(false);
        return detail is null
            ? []
            : [.. detail.Attempts.Select(a => new RecordedAttempt(a.Domain, new DeliveryAttempt(a.RemoteHost, a.StartedAt, a.Results, a.RemoteAddress, a.Tls, TimeSpan.FromMilliseconds(a.DurationMs))))];
    }

    /// <inheritdoc />
    public async Task<MessageExplanation?> ExplainMessageAsync(string messageId, CancellationToken cancellationToken = default)
    {
        var detail = await GetDetailAsync(messageId, cancellationToken).ConfigureAwait(false);
        return detail is null
            ? null
            : new MessageExplanation(new MessageStatus(detail.Envelope, detail.State, detail.Recipients), detail.Explanation?.Domains ?? [], detail.Explanation?.Summary ?? string.Empty);
    }

    /// <inheritdoc />
    public Task<DomainQueueExplanation> ExplainDomainAsync(string domain, CancellationToken cancellationToken = default) =>
        GetAsync<DomainQueueExplanation>($"api/domains/{Escape(domain)}", cancellationToken);

    /// <inheritdoc />
    public Task<QueueActionResult> ApplyToMessageAsync(string messageId, QueueAction action, CancellationToken cancellationToken = default) =>
        action == QueueAction.Delete
            ? SendAsync<QueueActionResult>(HttpMethod.Delete, $"api/queue/message/{Escape(messageId)}", null, cancellationToken)
            : SendAsync<QueueActionResult>(HttpMethod.Post, $"api/queue/message/{Escape(messageId)}/{ActionPath(action)}", null, cancellationToken);

    /// <inheritdoc />
    public Task<QueueActionResult> ApplyToDomainAsync(string domain, QueueAction action, CancellationToken cancellationToken = default) =>
        action == QueueAction.Delete
            ? SendAsync<QueueActionResult>(HttpMethod.Delete, $"api/domains/{Escape(domain)}", null, cancellationToken)
            : SendAsync<QueueActionResult>(HttpMethod.Post, $"api/domains/{Escape(domain)}/{ActionPath(action)}", null, cancellationToken);

    /// <inheritdoc />
    /// <remarks>The REST API offers flush (retry now) and purge (delete) for a whole state; hold and release are refused.</remarks>
    public Task<QueueActionResult> ApplyToStateAsync(MessageQueueState state, QueueAction action, CancellationToken cancellationToken = default) => action switch
    {
        QueueAction.RetryNow => SendAsync<QueueActionResult>(HttpMethod.Post, $"api/queue/{StatePath(state)}/flush", null, cancellationToken),
        QueueAction.Delete => SendAsync<QueueActionResult>(HttpMethod.Delete, $"api/queue/{StatePath(state)}", null, cancellationToken),
        _ => throw new ElemtaException(ElemtaErrorKind.Invalid, $"the REST API cannot {ActionPath(action)} a whole queue state; act on its domains or messages"),
    };

    /// <inheritdoc />
    public IAsyncEnumerable<DeliveryEvent> WatchAsync(string messageId, TimeSpan? pollInterval = null, CancellationToken cancellationToken = default) =>
        DeliveryWatch.RunAsync(messageId, GetMessageAsync, _time, pollInterval, cancellationToken);

    /// <inheritdoc />
    public async Task<ImmutableArray<ElemtaUser>> ListUsersAsync(CancellationToken cancellationToken = default) =>
        [.. (await GetAsync<ImmutableArray<UserDto>>("api/users", cancellationToken).ConfigureAwait(false)).Select(ToModel)];

    /// <inheritdoc />
    public async Task<ElemtaUser?> GetUserAsync(string name, CancellationToken cancellationToken = default) =>
        await GetOrNullAsync<UserDto>($"api/users/{Escape(name)}", cancellationToken).ConfigureAwait(false) is { } user ? ToModel(user) : null;

    /// <inheritdoc />
    public async Task<string?> CreateUserAsync(string name, IEnumerable<UserRole> roles, IEnumerable<string> allowedSenders, string? password = null, CancellationToken cancellationToken = default)
    {
        var body = new { name, roles = RoleNames(roles), allowedSenders = allowedSenders?.ToArray() ?? [], password };
        return (await SendAsync<UserWithPasswordDto>(HttpMethod.Post, "api/users", body, cancellationToken).ConfigureAwait(false)).Password;
    }

    /// <inheritdoc />
    public async Task<string?> SetPasswordAsync(string name, string? password = null, CancellationToken cancellationToken = default) =>
        (await SendAsync<UserWithPasswordDto>(HttpMethod.Post, $"api/users/{Escape(name)}/password", new { password }, cancellationToken).ConfigureAwait(false)).Password;

    /// <inheritdoc />
    public Task UpdateUserAsync(string name, IEnumerable<UserRole> roles, IEnumerable<string> allowedSenders, CancellationToken cancellationToken = default) =>
        SendAsync<UserDto>(HttpMethod.Put, $"api/users/{Escape(name)}", new { roles = RoleNames(roles), allowedSenders = allowedSenders?.ToArray() ?? [] }, cancellationToken);

    /// <inheritdoc />
    public Task DeleteUserAsync(string name, CancellationToken cancellationToken = default) =>
        SendAsync<object>(HttpMethod.Delete, $"api/users/{Escape(name)}", null, cancellationToken);

    /// <inheritdoc />
    public async Task<ImmutableArray<ElemtaApiKey>> ListApiKeysAsync(CancellationToken cancellationToken = default) =>
        [.. (await GetAsync<ImmutableArray<ApiKeyDto>>("api/apikeys", cancellationToken).ConfigureAwait(false)).Select(ToModel)];

    /// <inheritdoc />
    /// <remarks>The REST API counts lifetimes in whole days: <paramref name="expiresIn"/> is rounded up to one.</remarks>
    public async Task<CreatedApiKey> CreateApiKeyAsync(UserRole role, string name, TimeSpan? expiresIn = null, CancellationToken cancellationToken = default)
    {
        int? days = expiresIn is { } e ? (int)Math.Ceiling(e.TotalDays) : null;
        var created = await SendAsync<CreatedApiKeyDto>(HttpMethod.Post, "api/apikeys", new { role = Name(role), name, expiresInDays = days }, cancellationToken).ConfigureAwait(false);
        return new CreatedApiKey(ToModel(created.ApiKey), created.Key);
    }

    /// <inheritdoc />
    public Task RevokeApiKeyAsync(string id, CancellationToken cancellationToken = default) =>
        SendAsync<object>(HttpMethod.Delete, $"api/apikeys/{Escape(id)}", null, cancellationToken);

    /// <inheritdoc />
    public async Task<ImmutableArray<ElemtaSilo>> GetClusterAsync(CancellationToken cancellationToken = default) =>
        (await GetAsync<ClusterDto>("api/cluster", cancellationToken).ConfigureAwait(false)).Silos;

    /// <inheritdoc />
    public Task<AccessList> GetAccessListAsync(CancellationToken cancellationToken = default) =>
        GetAsync<AccessList>("api/access-list", cancellationToken);

    /// <inheritdoc />
    public Task<AccessListEntry> SetAccessListEntryAsync(string network, AccessListAction action, string? comment = null, CancellationToken cancellationToken = default) =>
        SendAsync<AccessListEntry>(HttpMethod.Put, $"api/access-list/{Escape(network)}", new { action = action == AccessListAction.Deny ? "deny" : "allow", comment }, cancellationToken);

    /// <inheritdoc />
    public Task RemoveAccessListEntryAsync(string network, CancellationToken cancellationToken = default) =>
        SendAsync<object>(HttpMethod.Delete, $"api/access-list/{Escape(network)}", null, cancellationToken);

    /// <inheritdoc />
    public async Task<byte[]?> GetRawMessageAsync(string messageId, CancellationToken cancellationToken = default)
    {
        using var response = await SendRawAsync(HttpMethod.Get, $"api/queue/message/{Escape(messageId)}/raw", null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadAsByteArrayAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_ownsHttp)
        {
            _http.Dispose();
        }
    }

    private static HttpClient Create(Uri baseAddress)
    {
        ArgumentNullException.ThrowIfNull(baseAddress);
        if (baseAddress.Scheme is not ("http" or "https"))
        {
            throw new ArgumentException($"'{baseAddress}' is not an http or https URL.", nameof(baseAddress));
        }

        var text = baseAddress.ToString();
        return new HttpClient { BaseAddress = new Uri(text.EndsWith('/') ? text : text + "/"), Timeout = TimeSpan.FromSeconds(100) };
    }

    private async Task<MessageDetailDto?> GetDetailAsync(string messageId, CancellationToken cancellationToken) =>
        await GetOrNullAsync<MessageDetailDto>($"api/queue/message/{Escape(messageId)}", cancellationToken).ConfigureAwait(false);

    private Task<T> GetAsync<T>(string path, CancellationToken cancellationToken) => SendAsync<T>(HttpMethod.Get, path, null, cancellationToken);

    private async Task<T?> GetOrNullAsync<T>(string path, CancellationToken cancellationToken)
        where T : class
    {
        using var response = await SendRawAsync(HttpMethod.Get, path, null, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NotFound)
        {
            return null;
        }

        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        return await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken).ConfigureAwait(false);
    }

    private async Task<T> SendAsync<T>(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var response = await SendRawAsync(method, path, body, cancellationToken).ConfigureAwait(false);
        await ThrowIfFailedAsync(response, cancellationToken).ConfigureAwait(false);
        if (response.StatusCode == HttpStatusCode.NoContent)
        {
            return default!;
        }

        return await response.Content.ReadFromJsonAsync<T>(Json, cancellationToken).ConfigureAwait(false)
            ?? throw new ElemtaException(ElemtaErrorKind.Failed, $"{method} {path}: empty answer");
    }

    private async Task<HttpResponseMessage> SendRawAsync(HttpMethod method, string path, object? body, CancellationToken cancellationToken)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is HttpContent content)
        {
            request.Content = content;
        }
        else if (body is not null)
        {
            request.Content = JsonContent.Create(body, options: Json);
        }

        try
        {
            return await _http.SendAsync(request, cancellationToken).ConfigureAwait(false);
        }
        catch (HttpRequestException ex)
        {
            throw new ElemtaException(ElemtaErrorKind.Unreachable, $"cannot reach {_http.BaseAddress}: {ex.Message}", ex);
        }
        catch (TaskCanceledException ex) when (!cancellationToken.IsCancellationRequested)
        {
            throw new ElemtaException(ElemtaErrorKind.Unreachable, $"{_http.BaseAddress} did not answer within {_http.Timeout.TotalSeconds:0} s", ex);
        }
    }

    private static async Task ThrowIfFailedAsync(HttpResponseMessage response, CancellationToken cancellationToken)
    {
        if (response.IsSuccessStatusCode)
        {
            return;
        }

        string? detail = null;
        try
        {
            var problem = await response.Content.ReadFromJsonAsync<ProblemDto>(Json, cancellationToken).ConfigureAwait(false);
            detail = problem?.Detail ?? problem?.Title;
        }
        catch (Exception ex) when (ex is JsonException or NotSupportedException or InvalidOperationException)
        {
            // Not problem details (e.g. a proxy's page): the status code says enough.
        }

        var code = (int)response.StatusCode;
        var kind = code switch
        {
            400 or 413 or 415 or 422 => ElemtaErrorKind.Invalid,
            401 or 403 => ElemtaErrorKind.Unauthorized,
            404 => ElemtaErrorKind.NotFound,
            409 => ElemtaErrorKind.Conflict,
            502 or 503 or 504 => ElemtaErrorKind.Unreachable,
            _ => ElemtaErrorKind.Failed,
        };
        var reason = detail ?? (code switch
        {
            401 => "the API key or account was not accepted",
            403 => "the API key or account lacks the role for this",
            _ => response.ReasonPhrase ?? "failed",
        });
        throw new ElemtaException(kind, $"{code.ToString(CultureInfo.InvariantCulture)}: {reason.TrimEnd('.')}");
    }

    private static void Append(StringBuilder query, string name, string? value)
    {
        if (value is not null)
        {
            query.Append('&').Append(name).Append('=').Append(Uri.EscapeDataString(value));
        }
    }

    private static string Escape(string segment)
    {
        ArgumentException.ThrowIfNullOrEmpty(segment);
        return Uri.EscapeDataString(segment);
    }

    private static string StatePath(MessageQueueState state) => state == MessageQueueState.Held ? "hold" : state.ToString().ToLowerInvariant();

    private static string ActionPath(QueueAction action) => action switch
    {
        QueueAction.Hold => "hold",
        QueueAction.Release => "release",
        QueueAction.RetryNow => "retry",
        _ => "delete",
    };

    private static string Name(UserRole role) => role.ToString().ToLowerInvariant();

    private static string[] RoleNames(IEnumerable<UserRole> roles)
    {
        ArgumentNullException.ThrowIfNull(roles);
        return [.. roles.Distinct().Select(Name)];
    }

    private static UserRole ParseRole(string role) => Enum.Parse<UserRole>(role, ignoreCase: true);

    private static ElemtaUser ToModel(UserDto u) =>
        new(u.Name, [.. u.Roles.Select(ParseRole)], u.AllowedSenders, u.CreatedAt, u.ChangedAt);

    private static ElemtaApiKey ToModel(ApiKeyDto k) =>
        new(k.Id, k.Name, ParseRole(k.Role), Enum.Parse<ApiKeyState>(k.State, ignoreCase: true), k.CreatedAt, k.CreatedBy, k.ExpiresAt, k.RevokedAt);

    // The REST API's JSON shapes (src/Elemta.Api), read into the SDK's model types above.
    private sealed record StateCountsDto(long Active, long Deferred, long Held, long Failed, long Delivered);

    private sealed record StatsDto(StateCountsDto Messages, DateTimeOffset? OldestPendingReceivedAt, ImmutableArray<DomainCount> TopDomains, OutcomeCounts LastMinute, OutcomeCounts LastHour);

    private sealed record PageDto(ImmutableArray<QueuedMessage> Items, string? NextCursor);

    private sealed record AttemptDto(string Domain, DateTimeOffset StartedAt, double DurationMs, string RemoteHost, string? RemoteAddress, string? Tls, ImmutableArray<RecipientResult> Results);

    private sealed record ExplanationDto(string Summary, ImmutableArray<MessageDomainExplanation> Domains);

    private sealed record MessageDetailDto(string Id, MessageQueueState State, MessageEnvelope Envelope, ImmutableArray<RecipientState> Recipients, ImmutableArray<AttemptDto> Attempts, ExplanationDto? Explanation);

    private sealed record UserDto(string Name, ImmutableArray<string> Roles, ImmutableArray<string> AllowedSenders, DateTimeOffset CreatedAt, DateTimeOffset ChangedAt);

    private sealed record UserWithPasswordDto(UserDto User, string? Password);

    private sealed record ApiKeyDto(string Id, string Name, string Role, string State, DateTimeOffset CreatedAt, string CreatedBy, DateTimeOffset? ExpiresAt, DateTimeOffset? RevokedAt);

    private sealed record CreatedApiKeyDto(ApiKeyDto ApiKey, string Key);

    private sealed record ClusterDto(ImmutableArray<ElemtaSilo> Silos);

    private sealed record SubmittedDto(string MessageId);

    private sealed record ProblemDto(string? Title, string? Detail, int? Status);
}
