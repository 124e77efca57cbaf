using System.Collections.Immutable;
using System.Globalization;
using Elemta.Api.Administration;
using Elemta.Api.Paging;
using Elemta.Api.Problems;
using Elemta.Api.Validation;
using Elemta.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace Elemta.Api.Audit;

/// <summary>One page of the audit log, newest first.</summary>
/// <param name="Items">The records.</param>
/// <param name="NextCursor">Pass as <c>cursor</c> for older records; null on the last page.</param>
public sealed record AuditPageModel(ImmutableArray<AuditEntry> Items, string? NextCursor);

/// <summary><c>GET /api/audit</c>: the audit log, newest first, paged by cursor, optionally about one subject.</summary>
internal static class AuditEndpoints
{
    private const int DefaultLimit = 50;
    private const int MaxLimit = 1000;
    private const string CursorKind = "audit";

    public static void MapAudit(this RouteGroupBuilder api) =>
        api.MapGet("/audit", ReadAsync).WithTags("Audit").WithName("ReadAuditLog")
            .WithSummary("Who did what to which account, key, message, domain or queue, newest first.");

    private static async Task<Results<Ok<AuditPageModel>, ProblemHttpResult>> ReadAsync(int? limit, string? cursor, string? subject, AuditAdministration audit, CancellationToken ct)
    {
        if (!RequestValues.TryLimit(limit, DefaultLimit, MaxLimit, out var pageSize))
        {
            return ApiProblems.Invalid($"limit must be between 1 and {MaxLimit}.");
        }

        long? before = null;
        if (cursor is not null)
        {
            if (!OpaqueCursor.TryDecode(cursor, CursorKind, 1, out var fields) || !long.TryParse(fields[0], NumberStyles.None, CultureInfo.InvariantCulture, out var id))
            {
                return ApiProblems.BadRequest("cursor is not one this listing returned.");
            }

            before = id;
        }

        var (entries, more) = await audit.ReadAsync(subject, before, pageSize, ct);
        var next = more ? OpaqueCursor.Encode(CursorKind, entries[^1].Id.ToString(CultureInfo.InvariantCulture)) : null;

        return TypedResults.Ok(new AuditPageModel(entries, next));
    }
}
