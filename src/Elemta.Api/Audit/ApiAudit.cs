using System.Security.Claims;
using Elemta.Api.Authentication;
using Elemta.Contracts;

namespace Elemta.Api.Audit;

/// <summary>
/// Records operator actions taken through the API in the audit log, with the caller as actor. Account and key changes
/// are recorded by their grains (which take the actor with the call), so only queue actions come through here.
/// </summary>
internal static class ApiAudit
{
    /// <summary>Appends (actor, <paramref name="action"/>, <paramref name="subject"/>, <paramref name="detail"/>) and returns once it is committed.</summary>
    public static Task RecordAsync(IGrainFactory grains, ClaimsPrincipal user, string action, string subject, string detail, CancellationToken cancellationToken) =>
        grains.GetGrain<IAuditLogGrain>(IAuditLogGrain.Key)
            .AppendAsync(ElemtaAuthentication.ActorOf(user), action, subject, detail)
            .WaitAsync(cancellationToken);

    /// <summary>What an action changed, for the record's detail.</summary>
    public static string Counts(QueueActionResult result) => $"messages={result.Messages} entries={result.Entries}";
}
