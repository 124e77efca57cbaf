using System.Security.Claims;
using Elemta.Api.Audit;
using Elemta.Api.Authentication;
using Elemta.Api.Problems;
using Elemta.Api.Queue;
using Elemta.Api.Validation;
using Elemta.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Elemta.Api.Domains;

/// <summary>
/// <c>/api/domains/{domain}</c>: one recipient domain's queue — why it is (not) moving (circuit, throttle, next
/// attempt) — and the operator actions on every message waiting in it.
/// </summary>
internal static class DomainEndpoints
{
    public static void MapDomains(this RouteGroupBuilder api)
    {
        var domain = api.MapGroup("/domains/{domain}").WithTags("Domains");
        domain.MapGet("", ExplainAsync).WithName("GetDomainQueue").WithSummary("The domain queue's explanation: entries, circuit, throttling, last reply, next attempt.");
        domain.MapPost("/hold", (string domain, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(domain, QueueAction.Hold, grains, user, ct))
            .WithName("HoldDomain").RequireAuthorization(ElemtaPolicies.Operate);
        domain.MapPost("/release", (string domain, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(domain, QueueAction.Release, grains, user, ct))
            .WithName("ReleaseDomain").RequireAuthorization(ElemtaPolicies.Operate);
        domain.MapPost("/retry", (string domain, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(domain, QueueAction.RetryNow, grains, user, ct))
            .WithName("RetryDomain").RequireAuthorization(ElemtaPolicies.Operate);
        domain.MapDelete("", (string domain, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(domain, QueueAction.Delete, grains, user, ct))
            .WithName("DeleteDomainQueue").WithSummary("Deletes every message waiting for the domain.").RequireAuthorization(ElemtaPolicies.Operate);
        domain.MapPut("/priority", SetPriorityAsync).WithName("SetDomainPriority").RequireAuthorization(ElemtaPolicies.Operate);
    }

    private static async Task<Results<Ok<DomainQueueExplanation>, ProblemHttpResult>> ExplainAsync(string domain, IGrainFactory grains, CancellationToken ct)
    {
        if (!RequestValues.TryDomain(domain, out var key))
        {
            return MalformedDomain();
        }

        return TypedResults.Ok(await grains.GetGrain<IDomainQueueGrain>(key).ExplainAsync().WaitAsync(ct));
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> ApplyAsync(
        string domain, QueueAction action, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.TryDomain(domain, out var key))
        {
            return MalformedDomain();
        }

        var result = await grains.GetGrain<IDomainQueueGrain>(key).ApplyAsync(action).WaitAsync(ct);
        await ApiAudit.RecordAsync(grains, user, $"domain.{QueueEndpoints.ActionName(action)}", key, ApiAudit.Counts(result), ct);
        return TypedResults.Ok(result);
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> SetPriorityAsync(
        string domain, PriorityRequest? body, IGrainFactory grains, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.TryDomain(domain, out var key))
        {
            return MalformedDomain();
        }

        if (body?.Priority is null)
        {
            return ApiProblems.BadRequest("The body must be {\"priority\": \"critical|high|normal|low|bulk\"}.");
        }

        if (!RequestValues.TryPriority(body.Priority, out var priority))
        {
            return ApiProblems.Invalid($"Unknown priority '{body.Priority}' (critical, high, normal, low, bulk).");
        }

        var result = await grains.GetGrain<IDomainQueueGrain>(key).SetPriorityAsync(priority).WaitAsync(ct);
        await ApiAudit.RecordAsync(grains, user, "domain.priority", key, $"priority={priority.ToString().ToLowerInvariant()} {ApiAudit.Counts(result)}", ct);
        return TypedResults.Ok(result);
    }

    private static ProblemHttpResult MalformedDomain() =>
        ApiProblems.BadRequest("Not a domain name (letters, digits, hyphens and dots, A-labels for international names, or an address literal in brackets).");
}
