using Elemta.MailAuth.Dkim;
using Elemta.MailAuth.Dmarc;
using Elemta.Plugins;

namespace Elemta.Policies.DkimSigning;

/// <summary>
/// Outbound DKIM signing (keys per sender domain in <c>Elemta:Dkim:Signing</c>) as a built-in plugin: a message from
/// an authenticated client or the trusted networks whose From domain (or a parent of it) has a key is signed once, at
/// acceptance, after every message hook, so a relay that only passes mail through never signs it. A content-filter
/// hook, so it runs after the message hooks' decisions; a header a message hook adds is not signed (it is not yet in
/// the content a filter reads), which is why the signed header list should name only the author's fields.
/// </summary>
public sealed class DkimSigningPlugin(DkimSigner signer) : IElemtaPlugin, IContentFilterHooks
{
    /// <summary>The plugin's name (settings under <c>Elemta:Plugins:Items:dkim-signing</c>).</summary>
    public const string PluginName = "dkim-signing";

    private const string HeaderName = "DKIM-Signature";

    /// <inheritdoc />
    public string Name => PluginName;

    /// <inheritdoc />
    public Version Version { get; } = typeof(DkimSigningPlugin).Assembly.GetName().Version ?? new Version(1, 0);

    /// <summary>The organisation's own mail only: inbound mail is never signed.</summary>
    public PluginScope Scope => PluginScope.Outbound;

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnFilterAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(message);
        if (session.AuthenticatedUser is null && !session.IsTrusted)
        {
            return HookDecision.Continue; // inbound or passing through: never ours to sign
        }

        var from = DmarcFromDomain.Extract([.. message.Headers.Where(h => h.Name.Equals("From", StringComparison.OrdinalIgnoreCase)).Select(h => h.Value)]);
        if (from.Domain is null || signer.SigningDomainFor(from.Domain) is not { } domain)
        {
            return HookDecision.Continue;
        }

        var field = await signer.SignAsync(message.Content, domain, cancellationToken).ConfigureAwait(false);
        if (field is null)
        {
            return HookDecision.Continue;
        }

        // The signer folds the field; the header API takes one line. Unfolding (removing CRLF before white space) does
        // not change the field under relaxed header canonicalization (RFC 6376 §3.4.2), which the signer uses.
        var value = field[(field.IndexOf(':', StringComparison.Ordinal) + 1)..].Replace("\r\n", string.Empty, StringComparison.Ordinal).Trim();
        message.AddHeader(HeaderName, value);
        return HookDecision.Continue;
    }
}
