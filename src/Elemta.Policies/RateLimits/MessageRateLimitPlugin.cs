using System.Diagnostics.Metrics;
using System.Globalization;
using Elemta.Contracts;
using Elemta.Plugins;
using Microsoft.Extensions.Options;

namespace Elemta.Policies.RateLimits;

/// <summary>
/// Message and recipient rate limits (<see cref="MessageRateLimitOptions"/>) as a built-in plugin: MAIL FROM takes one
/// token from each message bucket that applies (client address, sender, user), and each RCPT TO one from each recipient
/// bucket, in RateLimit grains keyed <c>rate:&lt;limit&gt;/&lt;seconds&gt;:&lt;kind&gt;:&lt;who&gt;</c>, so the limits
/// hold across silos. An empty bucket refuses with a hint of when to come back: <c>450 4.7.1</c> for a message,
/// <c>452 4.5.3</c> for a recipient (RFC 5321 §4.5.3.1.10, RFC 3463). Refusals are counted on the plugin's meter.
/// </summary>
public sealed class MessageRateLimitPlugin(IGrainFactory grains, IOptions<MessageRateLimitOptions> options) : IElemtaPlugin, IMailTransactionHooks, ISecurityHooks, IMetricsHooks
{
    /// <summary>The plugin's name (settings under <c>Elemta:Plugins:Items:rate-limits</c>).</summary>
    public const string PluginName = "rate-limits";

    private readonly MessageRateLimitOptions _options = options.Value;
    private Counter<long>? _refused;

    /// <inheritdoc />
    public string Name => PluginName;

    /// <inheritdoc />
    public Version Version { get; } = typeof(MessageRateLimitPlugin).Assembly.GetName().Version ?? new Version(1, 0);

    /// <inheritdoc />
    public void CreateInstruments(Meter meter)
    {
        ArgumentNullException.ThrowIfNull(meter);
        _refused = meter.CreateCounter<long>("elemta.ratelimit.refused", "{command}", "MAIL and RCPT commands refused by a message or recipient rate limit, by limit.");
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnMailFromAsync(SessionInfo session, MailTransaction transaction, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(transaction);
        foreach (var (rate, kind, who, limit) in Buckets(session, transaction.Sender, _options.MessagesPerIp, _options.MessagesPerSender, _options.MessagesPerUser))
        {
            var decision = await TakeAsync(rate, kind, who).ConfigureAwait(false);
            if (!decision.Allowed)
            {
                _refused?.Add(1, new KeyValuePair<string, object?>("limit", $"messages-per-{limit}"));
                return HookDecision.Defer($"Too many messages from {who}; try again in {Seconds(decision.RetryAfter)} s", 450, "4.7.1");
            }
        }

        return HookDecision.Continue;
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnSecurityCheckAsync(SessionInfo session, MailTransaction transaction, string recipient, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(transaction);
        foreach (var (rate, kind, who, limit) in Buckets(session, transaction.Sender, _options.RecipientsPerIp, _options.RecipientsPerSender, _options.RecipientsPerUser))
        {
            var decision = await TakeAsync(rate, "r" + kind, who).ConfigureAwait(false);
            if (!decision.Allowed)
            {
                _refused?.Add(1, new KeyValuePair<string, object?>("limit", $"recipients-per-{limit}"));
                return HookDecision.Defer($"Too many recipients from {who}; try again in {Seconds(decision.RetryAfter)} s", 452, "4.5.3");
            }
        }

        return HookDecision.Continue;
    }

    private IEnumerable<(WindowRate Rate, string Kind, string Who, string Limit)> Buckets(SessionInfo session, string sender, WindowRate perIp, WindowRate perSender, WindowRate perUser)
    {
        if (perIp.IsOn && !(session.IsTrusted && _options.TrustedNetworksBypass))
        {
            yield return (perIp, "ip", session.Client.Address.ToString(), "ip");
        }

        if (perSender.IsOn && sender.Length > 0)
        {
            yield return (perSender, "sender", sender.ToLowerInvariant(), "sender");
        }

        if (perUser.IsOn && session.AuthenticatedUser is { } user)
        {
            yield return (perUser, "user", user.ToLowerInvariant(), "user");
        }
    }

    /// <summary>One token from the bucket; the key carries the bucket's shape, so the grain needs no configuration of its own.</summary>
    private Task<RateLimitDecision> TakeAsync(WindowRate rate, string kind, string who) =>
        grains.GetGrain<IRateLimitGrain>(string.Create(CultureInfo.InvariantCulture,
            $"{IRateLimitGrain.WindowPrefix}{rate.Limit}/{(long)Math.Ceiling(rate.Window.TotalSeconds)}:{kind}:{who}")).TryAcquireAsync(1);

    private static string Seconds(TimeSpan wait) => Math.Max(1, (int)Math.Ceiling(wait.TotalSeconds)).ToString(CultureInfo.InvariantCulture);
}
