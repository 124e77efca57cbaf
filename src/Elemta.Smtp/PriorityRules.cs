using Elemta.Contracts;

namespace Elemta.Smtp;

/// <summary>
/// Delivery priority set by policy at acceptance (<c>Elemta:Queue:PriorityRules</c>): an ordered list, first match wins,
/// messages that match no rule stay <see cref="MessagePriority.Normal"/>.
/// </summary>
public sealed class PriorityRulesOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Queue";

    /// <summary>The rules, in order.</summary>
    public List<PriorityRule> PriorityRules { get; set; } = [];

    /// <summary>The priority of <paramref name="envelope"/> under the rules.</summary>
    public MessagePriority PriorityOf(MessageEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        foreach (var rule in PriorityRules)
        {
            if (rule.Matches(envelope))
            {
                return rule.Priority;
            }
        }

        return envelope.Priority;
    }
}

/// <summary>One priority rule: every condition given must hold.</summary>
public sealed class PriorityRule
{
    /// <summary>The sender: an address, <c>@domain</c>, <c>&lt;&gt;</c> for the null sender, or empty/<c>*</c> for any.</summary>
    public string? Sender { get; set; }

    /// <summary>A recipient domain at least one recipient must be in (<c>.example.com</c> also matches subdomains); empty/<c>*</c> for any.</summary>
    public string? RecipientDomain { get; set; }

    /// <summary>The priority given: Critical, High, Normal, Low, Bulk or a number (lower first).</summary>
    public MessagePriority Priority { get; set; } = MessagePriority.Normal;

    /// <summary>Whether the rule applies to <paramref name="envelope"/>.</summary>
    public bool Matches(MessageEnvelope envelope)
    {
        ArgumentNullException.ThrowIfNull(envelope);
        return SenderMatches(envelope.Sender) && (IsAny(RecipientDomain) || envelope.RecipientDomains().Any(DomainMatches));
    }

    private static bool IsAny(string? pattern) => string.IsNullOrWhiteSpace(pattern) || pattern == "*";

    private bool SenderMatches(string sender) => Sender switch
    {
        var any when IsAny(any) => true,
        "<>" => sender.Length == 0,
        ['@', .. var domain] => sender.Length > 0 && string.Equals(MessageEnvelope.DomainOf(sender), domain.TrimEnd('.'), StringComparison.OrdinalIgnoreCase),
        var address => string.Equals(address, sender, StringComparison.OrdinalIgnoreCase),
    };

    private bool DomainMatches(string domain)
    {
        var pattern = RecipientDomain!.TrimEnd('.').ToLowerInvariant();
        return pattern.StartsWith('.') ? domain.EndsWith(pattern, StringComparison.Ordinal) || domain == pattern[1..] : domain == pattern;
    }
}
