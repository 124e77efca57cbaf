using Microsoft.Extensions.Configuration;

namespace Elemta.Plugins.Samples.RewriteRecipients;

/// <summary>
/// Rewrites envelope recipients before the message is queued, as an operator does when a domain moves or a mailbox is
/// renamed. Rules come from <c>Elemta:Plugins:Items:RewriteRecipients:Settings:Rules:N</c>, each with <c>From</c> and
/// <c>To</c>: either two addresses (<c>old@example.org</c> → <c>new@example.org</c>) or two domains written with a
/// leading <c>@</c> (<c>@old.example</c> → <c>@new.example</c>, keeping the local part). Matching ignores case; the
/// first matching rule wins; a recipient that two rules turn into the same address is kept once.
/// </summary>
public sealed class RewriteRecipientsPlugin : IElemtaPlugin, IMessageHooks
{
    private readonly Dictionary<string, string> _addresses = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, string> _domains = new(StringComparer.OrdinalIgnoreCase);

    /// <inheritdoc />
    public string Name => "RewriteRecipients";

    /// <inheritdoc />
    public Version Version => new(1, 0, 0);

    /// <inheritdoc />
    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        foreach (var rule in context.Settings.GetSection("Rules").GetChildren())
        {
            var from = rule["From"]?.Trim();
            var to = rule["To"]?.Trim();
            if (string.IsNullOrEmpty(from) || string.IsNullOrEmpty(to) || from.StartsWith('@') != to.StartsWith('@'))
            {
                // A start-time error names the key, as Elemta's own settings do; the host stops the start with it.
                throw new InvalidOperationException(
                    $"Elemta:Plugins:Items:RewriteRecipients:Settings:Rules:{rule.Key} needs From and To, both addresses or both @domains.");
            }

            (from.StartsWith('@') ? _domains : _addresses).TryAdd(from.TrimStart('@'), to.TrimStart('@'));
        }

        return default;
    }

    /// <inheritdoc />
    public ValueTask<HookDecision> OnMessageAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_addresses.Count == 0 && _domains.Count == 0)
        {
            return HookDecision.ContinueTask;
        }

        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var rewritten = new List<string>(message.Recipients.Count);
        foreach (var recipient in message.Recipients)
        {
            var target = Rewrite(recipient);
            if (seen.Add(target))
            {
                rewritten.Add(target);
            }
        }

        message.Recipients.Clear();
        foreach (var recipient in rewritten)
        {
            message.Recipients.Add(recipient);
        }

        return HookDecision.ContinueTask;
    }

    private string Rewrite(string recipient)
    {
        if (_addresses.TryGetValue(recipient, out var address))
        {
            return address;
        }

        var at = recipient.LastIndexOf('@');
        return at > 0 && _domains.TryGetValue(recipient[(at + 1)..], out var domain) ? string.Concat(recipient.AsSpan(0, at + 1), domain) : recipient;
    }
}
