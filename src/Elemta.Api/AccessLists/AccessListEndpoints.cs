using System.Collections.Immutable;
using System.Security.Claims;
using Elemta.Api.Administration;
using Elemta.Api.Authentication;
using Elemta.Api.Problems;
using Elemta.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Elemta.Api.AccessLists;

/// <summary>
/// <c>/api/access-list</c>: the IP access list that every silo enforces at connect. Reading needs the viewer role,
/// changing it admin. The network is the rest of the path, so <c>PUT /api/access-list/192.0.2.0/24</c> and the
/// URL-encoded <c>/api/access-list/192.0.2.0%2F24</c> name the same entry; a bare address is a /32 or /128.
/// </summary>
internal static class AccessListEndpoints
{
    public static void MapAccessList(this RouteGroupBuilder api)
    {
        var list = api.MapGroup("/access-list").WithTags("Access list");
        list.MapGet("", GetAsync).WithName("GetAccessList")
            .WithSummary("The IP access list: entries (network, allow or deny, comment, added at and by) and its version.");
        list.MapPut("/{**network}", SetAsync).WithName("SetAccessListEntry").RequireAuthorization(ElemtaPolicies.Administer)
            .WithSummary("Adds (201) or replaces (200) the entry for a network in CIDR form; effective on every silo within Elemta:AccessList:RefreshInterval.");
        list.MapDelete("/{**network}", RemoveAsync).WithName("RemoveAccessListEntry").RequireAuthorization(ElemtaPolicies.Administer)
            .WithSummary("Removes the entry for a network.");
    }

    private static async Task<Ok<AccessListModel>> GetAsync(AccessListAdministration accessList, CancellationToken ct) =>
        TypedResults.Ok(Model(await accessList.GetAsync(ct)));

    private static async Task<Results<Created<AccessListEntryModel>, Ok<AccessListEntryModel>, ProblemHttpResult>> SetAsync(
        string network, AccessListEntryRequest? body, AccessListAdministration accessList, ClaimsPrincipal user, CancellationToken ct)
    {
        if (body?.Action is null)
        {
            return ApiProblems.BadRequest("The body must give the entry's action: {\"action\": \"deny\", \"comment\": \"why\"}.");
        }

        AccessListAction action;
        switch (body.Action.Trim().ToLowerInvariant())
        {
            case "allow":
                action = AccessListAction.Allow;
                break;
            case "deny":
                action = AccessListAction.Deny;
                break;
            default:
                return ApiProblems.Invalid($"action '{body.Action}' is unknown: allow or deny.");
        }

        var change = await accessList.SetAsync(Unescape(network), action, body.Comment ?? string.Empty, ElemtaAuthentication.ActorOf(user), ct);
        return change.Status switch
        {
            AccessListChangeStatus.InvalidNetwork => ApiProblems.BadRequest(change.Error!),
            AccessListChangeStatus.Invalid => ApiProblems.Invalid(change.Error!),
            AccessListChangeStatus.Added => TypedResults.Created($"/api/access-list/{change.Network}", Model(change.Entry!)),
            _ => TypedResults.Ok(Model(change.Entry!)),
        };
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> RemoveAsync(
        string network, AccessListAdministration accessList, ClaimsPrincipal user, CancellationToken ct)
    {
        var change = await accessList.RemoveAsync(Unescape(network), ElemtaAuthentication.ActorOf(user), ct);
        return change.Status switch
        {
            AccessListChangeStatus.InvalidNetwork or AccessListChangeStatus.Invalid => ApiProblems.BadRequest(change.Error!),
            AccessListChangeStatus.NotFound => ApiProblems.NotFound($"The access list has no entry for {change.Network}."),
            _ => TypedResults.NoContent(),
        };
    }

    /// <summary>The server leaves an encoded '/' (%2F) encoded in the path; the network is read the same either way.</summary>
    private static string Unescape(string network) => Uri.UnescapeDataString(network ?? string.Empty);

    private static AccessListModel Model(AccessList list) => new(list.Version, [.. list.Entries.Select(Model)]);

    private static AccessListEntryModel Model(AccessListEntry entry) =>
        new(entry.Network, entry.Action == AccessListAction.Deny ? "deny" : "allow", entry.Comment, entry.AddedAt, entry.AddedBy);
}

/// <summary>The body of <c>PUT /api/access-list/{network}</c>.</summary>
/// <param name="Action"><c>allow</c> or <c>deny</c>.</param>
/// <param name="Comment">Why (at most 200 characters, no control characters).</param>
public sealed record AccessListEntryRequest(string? Action, string? Comment);

/// <summary>The access list.</summary>
/// <param name="Version">Raised by every change.</param>
/// <param name="Entries">The entries, IPv4 first, by network.</param>
public sealed record AccessListModel(long Version, ImmutableArray<AccessListEntryModel> Entries);

/// <summary>One access-list entry.</summary>
/// <param name="Network">The network in normalised CIDR form.</param>
/// <param name="Action"><c>allow</c> or <c>deny</c>.</param>
/// <param name="Comment">Why it is there.</param>
/// <param name="AddedAt">When it was added or last replaced.</param>
/// <param name="AddedBy">Who added or last replaced it.</param>
public sealed record AccessListEntryModel(string Network, string Action, string Comment, DateTimeOffset AddedAt, string AddedBy);
