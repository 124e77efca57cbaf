using System.Security.Claims;
using Elemta.Api.Administration;
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
        domain.MapPost("/hold", (string domain, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(domain, QueueAction.Hold, queue, user, ct))
            .WithName("HoldDomain").RequireAuthorization(ElemtaPolicies.Operate);
        domain.MapPost("/release", (string domain, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(domain, QueueAction.Release, queue, user, ct))
            .WithName("ReleaseDomain").RequireAuthorization(ElemtaPolicies.Operate);
        domain.MapPost("/retry", (string domain, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(domain, QueueAction.RetryNow, queue, user, ct))
            .WithName("RetryDomain").RequireAuthorization(ElemtaPolicies.Operate);
        domain.MapDelete("", (string domain, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct) => ApplyAsync(domain, QueueAction.Delete, queue, user, ct))
            .WithName("DeleteDomainQueue").WithSummary("Deletes every message waiting for the domain.").RequireAuthorization(ElemtaPolicies.Operate);
        domain.MapPut("/priority", SetPriorityAsync).WithName("SetDomainPriority").RequireAuthorization(ElemtaPolicies.Operate);
    }

    private static async Task<Results<Ok<DomainQueueExplanation>, ProblemHttpResult>> ExplainAsync(string domain, QueueAdministration queue, CancellationToken ct)
    {
        if (!RequestValues.TryDomain(domain, out var key))
        {
            return MalformedDomain();
        }

        return TypedResults.Ok(await queue.ExplainDomainAsync(key, ct));
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> ApplyAsync(
        string domain, QueueAction action, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!RequestValues.TryDomain(domain, out var key))
        {
            return MalformedDomain();
        }

        return TypedResults.Ok(await queue.ApplyToDomainAsync(key, action, ElemtaAuthentication.ActorOf(user), ct));
    }

    private static async Task<Results<Ok<QueueActionResult>, ProblemHttpResult>> SetPriorityAsync(
        string domain, PriorityRequest? body, QueueAdministration queue, ClaimsPrincipal user, CancellationToken ct)
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

        return TypedResults.Ok(await queue.SetDomainPriorityAsync(key, priority, ElemtaAuthentication.ActorOf(user), ct));
    }

    private static ProblemHttpResult MalformedDomain() =>
        ApiProblems.BadRequest("Not a domain name (letters, digits, hyphens and dots, A-labels for international names, or an address literal in brackets).");
}
