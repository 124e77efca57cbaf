using System.Globalization;
using System.Security.Claims;
using Elemta.Api.Administration;
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
        message.MapPost("/hold", (string id, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(id, QueueAction.Hold, queue, user, ct))
            .WithName("HoldMessage").RequireAuthorization(ElemtaPolicies.Operate);
        message.MapPost("/release", (string id, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(id, QueueAction.Release, queue, user, ct))
            .WithName("ReleaseMessage").RequireAuthorization(ElemtaPolicies.Operate);
        message.MapPost("/retry", (string id, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(id, QueueAction.RetryNow, queue, user, ct))
            .WithName("RetryMessage").RequireAuthorization(ElemtaPolicies.Operate);
        message.MapDelete("", (string id, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(id, QueueAction.Delete, queue, user, ct))
            .WithName("DeleteMessage").RequireAuthorization(ElemtaPolicies.Operate);
        message.MapPut("/priority", SetPriorityAsync).WithName("SetMessagePriority").RequireAuthorization(ElemtaPolicies.Operate);
    }

    /// <summary>The action's name in the audit log and in paths.</summary>
    public static string ActionName(QueueAction action) => QueueAdministration.ActionName(action);

    private static async Task<Ok<QueueStatsModel>> GetStatsAsync(QueueAdministration queue, CancellationToken ct) =>
        TypedResults.Ok(await queue.GetStatisticsAsync(ct));

    private static async Task<Results<Ok<QueuePageModel>, ProblemHttpResult>> ListAsync(
        string state, int? limit, string? cursor, string? sort, string? sender, string? domain, string? recipient, QueueAdministration queue, CancellationToken ct)
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

        var query = new QueueListQuery(queueState, pageSize, order == "newest", Sender: sender, Domain: domainFilter,
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
        var (rows, more) = await queue.ListPageAsync(query, pageSize, ct);
        string? next = null;
        if (more)
        {
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

    private static async Task<Results<Ok<MessageDetailModel>, ProblemHttpResult>> GetMessageAsync(string id, QueueAdministration queue, CancellationToken ct)
    {
        if (!RequestValues.IsMessageId(id))
        {
            return MalformedId();
        }

        return await queue.GetMessageAsync(id, ct) is { } detail ? TypedResults.Ok(detail) : NoMessage(id);
    }

    private static async Task<Results<FileContentHttpResult, ProblemHttpResult>> GetRawAsync(string id, QueueAdministration queue, CancellationToken ct)
    {
        if (!RequestValues.IsMessageId(id))
        {
            return MalformedId();
        }

        var content = await queue.GetContentAsync(id, ct);
        return content is null
            ? ApiProblems.NotFound($"No content for message {id}: there is no such message, or it finished and its content was deleted.")
            : TypedResults.File(content, "message/rfc822", $"{id}.eml");
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> ApplyAsync(
        string id, QueueAction action, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.IsMessageId(id))
        {
            return MalformedId();
        }

        var outcome = await queue.ApplyAsync(id, action, ElemtaAuthentication.ActorOf(user), ct);
        return outcome.Status switch
        {
            MessageActionStatus.NotFound => NoMessage(id),
            MessageActionStatus.Finished => ApiProblems.Conflict($"Message {id} is {outcome.State.ToString().ToLowerInvariant()}: nothing is waiting to {ActionName(action)}."),
            _ => TypedResults.Ok(outcome.Result!),
        };
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> SetPriorityAsync(
        string id, PriorityRequest? body, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct)
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

        var outcome = await queue.SetPriorityAsync(id, priority, ElemtaAuthentication.ActorOf(user), ct);
        return outcome.Status switch
        {
            MessageActionStatus.NotFound => NoMessage(id),
            MessageActionStatus.Finished => ApiProblems.Conflict($"Message {id} is {outcome.State.ToString().ToLowerInvariant()}: its priority no longer matters."),
            _ => TypedResults.Ok(outcome.Result!),
        };
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> FlushAsync(string state, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.TryState(state, out var queueState))
        {
            return UnknownState(state);
        }

        if (queueState.IsFinal())
        {
            return ApiProblems.Invalid($"{RequestValues.StateName(queueState)} messages are finished: there is nothing to flush.");
        }

        return TypedResults.Ok(await queue.FlushAsync(queueState, ElemtaAuthentication.ActorOf(user), ct));
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> PurgeAsync(string state, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.TryState(state, out var queueState))
        {
            return UnknownState(state);
        }

        return TypedResults.Ok(await queue.PurgeAsync(queueState, ElemtaAuthentication.ActorOf(user), ct));
    }

    private static ProblemHttpResult UnknownState(string state) =>
        ApiProblems.NotFound($"No queue state '{state}' (active, deferred, hold, failed, delivered).");

    private static ProblemHttpResult MalformedId() =>
        ApiProblems.BadRequest("A message id is 32 lower-case hexadecimal digits.");

    private static ProblemHttpResult NoMessage(string id) =>
        ApiProblems.NotFound($"No message {id}.");
}
