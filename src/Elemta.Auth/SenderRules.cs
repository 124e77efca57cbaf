using Elemta.Contracts;

namespace Elemta.Auth;

/// <summary>Which envelope senders (MAIL FROM) an authenticated account may use.</summary>
public static class SenderRules
{
    /// <summary>
    /// Whether <paramref name="account"/> may send as <paramref name="sender"/> (a mailbox, empty for the null sender).
    /// Entries of <see cref="UserAccount.AllowedSenders"/>: an address (case-insensitive), <c>@domain</c> for a whole
    /// domain, <c>*</c> for anything including the null sender. With no entries, only the login name when it is an
    /// address.
    /// </summary>
    public static bool Permits(UserAccount account, string sender)
    {
        ArgumentNullException.ThrowIfNull(account);
        ArgumentNullException.ThrowIfNull(sender);
        var rules = account.AllowedSenders.IsDefaultOrEmpty
            ? (account.Name.Contains('@', StringComparison.Ordinal) ? [account.Name] : [])
            : account.AllowedSenders;
        var at = sender.LastIndexOf('@');
        var domain = at < 0 ? string.Empty : sender[(at + 1)..];
        foreach (var rule in rules)
        {
            if (rule == "*")
            {
                return true;
            }

            if (sender.Length == 0)
            {
                continue;
            }

            if (rule.StartsWith('@') ? string.Equals(rule[1..], domain, StringComparison.OrdinalIgnoreCase)
                                     : string.Equals(rule, sender, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The reason <paramref name="rule"/> is not a valid allowed-sender entry, or null when it is.</summary>
    public static string? Check(string rule)
    {
        ArgumentNullException.ThrowIfNull(rule);
        if (rule == "*")
        {
            return null;
        }

        var at = rule.LastIndexOf('@');
        return at < 0 || at == rule.Length - 1 || rule.Any(c => char.IsWhiteSpace(c) || char.IsControl(c))
            ? $"'{rule}' is not an allowed sender: use user@domain, @domain or *"
            : null;
    }
}
