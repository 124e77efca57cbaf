using System.Text.RegularExpressions;
using Elemta.Contracts;
using Elemta.Delivery.Dns;
using Elemta.Delivery.Local;
using Microsoft.Extensions.Options;

namespace Elemta.Grains;

/// <summary>
/// Names the destination site of a domain: <c>mx:</c> and its MX host names in order (so every domain a provider
/// hosts on the same MX hosts shares one <see cref="IDestinationGrain"/>), <c>route:host:port</c> for a configured
/// route, <c>lmtp:</c> and the endpoint or <c>local:</c> and the domain for local domains, or <c>domain:</c> and the
/// domain when its MX cannot be resolved now.
/// </summary>
public sealed partial class DestinationSites(MxResolver resolver, IOptions<LocalDeliveryOptions> local)
{
    /// <summary>The site key of <paramref name="domain"/>.</summary>
    public async Task<string> SiteOfAsync(string domain, CancellationToken cancellationToken)
    {
        // Local domains never touch DNS: a Maildir is its own site, and LMTP domains share their mailbox server.
        if (local.Value.Find(domain) is { } localDomain)
        {
            return localDomain.LmtpEndpoint is { Length: > 0 } endpoint ? "lmtp:" + endpoint : "local:" + domain;
        }

        var resolution = await resolver.ResolveAsync(domain, cancellationToken).ConfigureAwait(false);
        if (resolution.Targets.Count == 0)
        {
            return "domain:" + domain;
        }

        if (resolution.IsRoute)
        {
            var target = resolution.Targets[0];
            return $"route:{target.Name}:{target.Port}";
        }

        return "mx:" + string.Join(',', resolution.Targets.Select(t => t.Name.TrimEnd('.').ToLowerInvariant()).Distinct().Order(StringComparer.Ordinal));
    }

    /// <summary>How an attempt's replies count for the site's budget.</summary>
    public static DestinationFeedback FeedbackOf(DeliveryAttempt attempt)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        if (attempt.Results.Any(r => r.Outcome == RecipientOutcome.Transient && IsSlowDown(r.Reply)))
        {
            return DestinationFeedback.Throttled;
        }

        return DomainQueueGrain.IsDestinationFailure(attempt) ? DestinationFeedback.Unreachable : DestinationFeedback.Success;
    }

    /// <summary>421 (service closing: Postfix and the large providers use it for "too many connections"), or a 4xx about limits.</summary>
    private static bool IsSlowDown(string reply) =>
        reply.StartsWith("421", StringComparison.Ordinal) || (reply.StartsWith('4') && SlowDownWords().IsMatch(reply));

    [GeneratedRegex(@"too many|rate|limit|throttl|try again later|slow down", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant)]
    private static partial Regex SlowDownWords();
}
