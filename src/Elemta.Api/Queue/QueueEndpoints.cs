using System.Globalization;
using System.Security.Claims;
using Elemta.Api.Audit;
using Elemta.Api.Authentication;
using Elemta.Api.Paging;
using Elemta.Api.Problems;
using Elemta.Api.Validation;
using Elemta.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Elemta.Api.Queue;

/// <summary>
/// <c>/api/queue</c>: statistics, listings by state with keyset paging, one message's detail and raw source, and the
/// operator actions on a message or a whole state.
/// </summary>
internal static class QueueEndpoints
{
    public const int DefaultLimit = 50;
    public const int MaxLimit = 1000;
    private const string CursorKind = "queue";

    public static void MapQueue(this RouteGroupBuilder api)
    {
        var queue = api.MapGroup("/queue").WithTags("Queue");
        queue.MapGet("/stats", GetStatsAsync).WithName("GetQueueStatistics").WithSummary("Counts per state and per priority, the oldest pending message, top domains, recent outcome rates.");
        queue.MapGet("/{state}", ListAsync).WithName("ListQueue").WithSummary("One page of the messages in a state (active, deferred, hold, failed, delivered), by age or priority, filtered by sender, domain or recipient.");
        queue.MapPost("/{state}/flush", FlushAsync).WithName("FlushQueue").WithSummary("Makes every waiting message in the state due now.")
            .RequireAuthorization(ElemtaPolicies.Operate);
        queue.MapDelete("/{state}", PurgeAsync).WithName("PurgeQueue").WithSummary("Deletes every message in the state, without notifying anyone.")
            .RequireAuthorization(ElemtaPolicies.Administer);

        var message = queue.MapGroup("/message/{id}");
        message.MapGet("", GetMessageAsync).WithName("GetMessage").WithSummary("Envelope, headers, per-recipient status, attempts and why the message waits.");
        message.MapGet("/raw", GetRawAsync).WithName("GetMessageSource").WithSummary("The message as received (RFC 5322), message/rfc822.")
            .Produces(StatusCodes.Status200OK, contentType: "message/rfc822");
        message.MapPost("/hold", (string id, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(id, QueueAction.Hold, grains, user, ct))
            .WithName("HoldMessage").RequireAuthorization(ElemtaPolicies.Operate);
        message.MapPost("/release", (string id, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(id, QueueAction.Release, grains, user, ct))
            .WithName("ReleaseMessage").RequireAuthorization(ElemtaPolicies.Operate);
        message.MapPost("/retry", (string id, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(id, QueueAction.RetryNow, grains, user, ct))
            .WithName("RetryMessage").RequireAuthorization(ElemtaPolicies.Operate);
        message.MapDelete("", (string id, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(id, QueueAction.Delete, grains, user, ct))
            .WithName("DeleteMessage").RequireAuthorization(ElemtaPolicies.Operate);
        message.MapPut("/priority", SetPriorityAsync).WithName("SetMessagePriority").RequireAuthorization(ElemtaPolicies.Operate);
    }

    /// <summary>The action's name in the audit log and in paths.</summary>
    public static string ActionName(QueueAction action) => action switch
    {
        QueueAction.Hold => "hold",
        QueueAction.Release => "release",
        QueueAction.RetryNow => "retry",
        _ => "delete",
    };

    private static async Task<Ok<QueueStatsModel>> GetStatsAsync(IGrainFactory grains, TimeProvider timeProvider, CancellationToken ct)
    {
        var stats = await grains.GetGrain<IQueueManagerGrain>(IQueueManagerGrain.Key).GetStatisticsAsync(10).WaitAsync(ct);
        long Count(MessageQueueState state) => stats.Messages.TryGetValue(state, out var count) ? count : 0;
        var age = stats.OldestPendingReceivedAt is { } oldest ? Math.Max(0, (timeProvider.GetUtcNow() - oldest).TotalSeconds) : (double?)null;
        // Every named priority, most urgent first, then any other value the priority rules gave, by number.
        var byPriority = new Dictionary<string, StateCountsModel>(StringComparer.Ordinal);
        var counts = stats.ByPriority.IsDefault ? [] : stats.ByPriority;
        foreach (var priority in Enum.GetValues<MessagePriority>().Concat(counts.Select(c => c.Priority)).Distinct().Order())
        {
            long Of(MessageQueueState state) => counts.Where(c => c.Priority == priority && c.State == state).Sum(c => c.Count);
            var name = Enum.IsDefined(priority) ? priority.ToString().ToLowerInvariant() : ((int)priority).ToString(CultureInfo.InvariantCulture);
            byPriority[name] = new StateCountsModel(Of(MessageQueueState.Active), Of(MessageQueueState.Deferred), Of(MessageQueueState.Held), Of(MessageQueueState.Failed), Of(MessageQueueState.Delivered));
        }

        return TypedResults.Ok(new QueueStatsModel(
            new StateCountsModel(Count(MessageQueueState.Active), Count(MessageQueueState.Deferred), Count(MessageQueueState.Held), Count(MessageQueueState.Failed), Count(MessageQueueState.Delivered)),
            stats.OldestPendingReceivedAt,
            age,
            stats.Domains,
            stats.LastMinute,
            stats.LastHour,
            byPriority));
    }

    private static async Task<Results<Ok<QueuePageModel>, ProblemHttpResult>> ListAsync(
        string state, int? limit, string? cursor, string? sort, string? sender, string? domain, string? recipient, IGrainFactory grains, CancellationToken ct)
    {
        if (!RequestValues.TryState(state, out var queueState))
        {
            return UnknownState(state);
        }

        if (!RequestValues.TryLimit(limit, DefaultLimit, MaxLimit, out var pageSize))
        {
            return ApiProblems.Invalid($"limit must be between 1 and {MaxLimit}.");
        }

        // "age" is the default, oldest first; "priority" is most urgent first, then oldest first.
        var order = sort?.ToLowerInvariant() switch
        {
            null or "" or "age" or "oldest" => "oldest",
            "newest" => "newest",
            "priority" => "priority",
            _ => null,
        };
        if (order is null)
        {
            return ApiProblems.Invalid("sort must be 'age' (oldest first, the default), 'newest' or 'priority'.");
        }

        string? domainFilter = null;
        if (domain is not null && !RequestValues.TryDomain(domain, out domainFilter))
        {
            return ApiProblems.Invalid("domain is not a domain name.");
        }

        if (recipient is not null && !RequestValues.IsAddress(recipient))
        {
            return ApiProblems.Invalid("recipient is not an address of the form local@domain.");
        }

        var query = new QueueListQuery(queueState, pageSize + 1, order == "newest", Sender: sender, Domain: domainFilter,
            ByPriority: order == "priority", Recipient: recipient);
        if (cursor is not null)
        {
            // The cursor names its listing (state and order) so it cannot be replayed against another one.
            if (!OpaqueCursor.TryDecode(cursor, CursorKind, 5, out var fields)
                || fields[0] != RequestValues.StateName(queueState) || fields[1] != order
                || !long.TryParse(fields[2], NumberStyles.None, CultureInfo.InvariantCulture, out var ms)
                || ms > DateTimeOffset.MaxValue.ToUnixTimeMilliseconds() || !RequestValues.IsMessageId(fields[3])
                || !TryCursorPriority(fields[4], order == "priority", out var afterPriority))
            {
                return ApiProblems.BadRequest("cursor is not one this listing returned.");
            }

            query = query with { AfterReceivedAt = DateTimeOffset.FromUnixTimeMilliseconds(ms), AfterMessageId = fields[3], AfterPriority = afterPriority };
        }

        // One more than asked tells whether another page exists, so the last page says so without a count.
        var rows = await grains.GetGrain<IQueueManagerGrain>(IQueueManagerGrain.Key).ListPageAsync(query).WaitAsync(ct);
        string? next = null;
        if (rows.Length > pageSize)
        {
            rows = rows.RemoveAt(pageSize);
            var last = rows[^1];
            next = OpaqueCursor.Encode(CursorKind, RequestValues.StateName(queueState), order,
                last.ReceivedAt.ToUnixTimeMilliseconds().ToString(CultureInfo.InvariantCulture), last.MessageId,
                order == "priority" ? ((int)last.Priority).ToString(CultureInfo.InvariantCulture) : string.Empty);
        }

        return TypedResults.Ok(new QueuePageModel(rows, next));
    }

    /// <summary>The priority field of a cursor: a number for the priority order, empty for the others.</summary>
    private static bool TryCursorPriority(string field, bool byPriority, out MessagePriority? priority)
    {
        priority = null;
        if (!byPriority)
        {
            return field.Length == 0;
        }

        if (!int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
        {
            return false;
        }

        priority = (MessagePriority)value;
        return true;
    }

    private static async Task<Results<Ok<MessageDetailModel>, ProblemHttpResult>> GetMessageAsync(string id, IGrainFactory grains, CancellationToken ct)
    {
        if (!RequestValues.IsMessageId(id))
        {
            return MalformedId();
        }

        var grain = grains.GetGrain<IMessageGrain>(id);
        var explanation = await grain.ExplainAsync().WaitAsync(ct);
        if (explanation is null)
        {
            return NoMessage(id);
        }

        var attempts = await grain.GetAttemptsAsync().WaitAsync(ct);
        var headers = await grain.GetHeadersAsync().WaitAsync(ct);
        var status = explanation.Status;
        return TypedResults.Ok(new MessageDetailModel(
            id, status.State, status.Envelope, headers, status.Recipients, [.. attempts.Select(AttemptModel.From)],
            new ExplanationModel(explanation.Summary, explanation.Domains)));
    }

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> GetRawAsync(string id, IGrainFactory grains, CancellationToken ct)
    {
        if (!RequestValues.IsMessageId(id))
        {
            return MalformedId();
        }

        var content = await grains.GetGrain<IMessageGrain>(id).GetContentAsync().WaitAsync(ct);
        return content is null
            ? ApiProblems.NotFound($"No content for message {id}: there is no such message, or it finished and its content was deleted.")
            : TypedResults.File(content, "message/rfc822", $"{id}.eml");
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> ApplyAsync(
        string id, QueueAction action, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.IsMessageId(id))
        {
            return MalformedId();
        }

        var grain = grains.GetGrain<IMessageGrain>(id);
        var status = await grain.GetStatusAsync().WaitAsync(ct);
        if (status is null)
        {
            return NoMessage(id);
        }

        if (action != QueueAction.Delete && status.State.IsFinal())
        {
            return ApiProblems.Conflict($"Message {id} is {status.State.ToString().ToLowerInvariant()}: nothing is waiting to {ActionName(action)}.");
        }

        var result = await grain.ApplyAsync(action).WaitAsync(ct);
        await ApiAudit.RecordAsync(grains, user, $"message.{ActionName(action)}", id, ApiAudit.Counts(result), ct);
        return TypedResults.Ok(result);
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> SetPriorityAsync(
        string id, PriorityRequest? body, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.IsMessageId(id))
        {
            return MalformedId();
        }

        if (body?.Priority is null)
        {
            return ApiProblems.BadRequest("The body must be {\"priority\": \"critical|high|normal|low|bulk\"}.");
        }

        if (!RequestValues.TryPriority(body.Priority, out var priority))
        {
            return ApiProblems.Invalid($"Unknown priority '{body.Priority}' (critical, high, normal, low, bulk).");
        }

        var grain = grains.GetGrain<IMessageGrain>(id);
        var status = await grain.GetStatusAsync().WaitAsync(ct);
        if (status is null)
        {
            return NoMessage(id);
        }

        if (status.State.IsFinal())
        {
            return ApiProblems.Conflict($"Message {id} is {status.State.ToString().ToLowerInvariant()}: its priority no longer matters.");
        }

        var result = await grain.SetPriorityAsync(priority).WaitAsync(ct);
        await ApiAudit.RecordAsync(grains, user, "message.priority", id, $"priority={priority.ToString().ToLowerInvariant()} {ApiAudit.Counts(result)}", ct);
        return TypedResults.Ok(result);
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> FlushAsync(string state, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.TryState(state, out var queueState))
        {
            return UnknownState(state);
        }

        if (queueState.IsFinal())
        {
            return ApiProblems.Invalid($"{RequestValues.StateName(queueState)} messages are finished: there is nothing to flush.");
        }

        var result = await grains.GetGrain<IQueueManagerGrain>(IQueueManagerGrain.Key).ApplyAsync(queueState, QueueAction.RetryNow).WaitAsync(ct);
        await ApiAudit.RecordAsync(grains, user, "queue.flush", RequestValues.StateName(queueState), ApiAudit.Counts(result), ct);
        return TypedResults.Ok(result);
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> PurgeAsync(string state, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.TryState(state, out var queueState))
        {
            return UnknownState(state);
        }

        var result = await grains.GetGrain<IQueueManagerGrain>(IQueueManagerGrain.Key).ApplyAsync(queueState, QueueAction.Delete).WaitAsync(ct);
        await ApiAudit.RecordAsync(grains, user, "queue.purge", RequestValues.StateName(queueState), ApiAudit.Counts(result), ct);
        return TypedResults.Ok(result);
    }

    private static ProblemHttpResult UnknownState(string state) =>
        ApiProblems.NotFound($"No queue state '{state}' (active, deferred, hold, failed, delivered).");

    private static ProblemHttpResult MalformedId() =>
        ApiProblems.BadRequest("A message id is 32 lower-case hexadecimal digits.");

    private static ProblemHttpResult NoMessage(string id) =>
        ApiProblems.NotFound($"No message {id}.");
}
