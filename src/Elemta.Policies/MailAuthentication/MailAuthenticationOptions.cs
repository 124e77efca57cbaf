namespace Elemta.Policies.MailAuthentication;

/// <summary>What to do with an SPF <c>fail</c> at MAIL FROM.</summary>
public enum SpfFailAction
{
    /// <summary>Record it in <c>Authentication-Results</c> and let DMARC (and the recipient) judge. The default: a plain SPF fail breaks forwarded mail.</summary>
    Record = 0,

    /// <summary>Refuse the transaction with <c>550 5.7.23</c> and the domain's explanation (RFC 7208 §8.4, RFC 7372).</summary>
    Reject = 1,
}

/// <summary>What to do with an SPF <c>temperror</c> (the sender's DNS did not answer).</summary>
public enum SpfTempErrorAction
{
    /// <summary>Record it and accept.</summary>
    Record = 0,

    /// <summary>Answer <c>451 4.4.3</c> so the client tries again (RFC 7208 §8.6).</summary>
    Defer = 1,
}

/// <summary>What a DMARC <c>quarantine</c> disposition does to the message.</summary>
public enum DmarcQuarantineAction
{
    /// <summary>Accept it marked: <c>X-Spam: Yes</c> (and the result in <c>Authentication-Results</c>), for the mailbox's junk rules. The default.</summary>
    Header = 0,

    /// <summary>Accept it into the Held state: not delivered until an operator releases it.</summary>
    Hold = 1,
}

/// <summary>DMARC settings, section <c>Elemta:MailAuth:Dmarc</c>.</summary>
public sealed class DmarcOptions
{
    /// <summary>Whether DMARC (RFC 7489) is evaluated on inbound mail. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Whether a <c>reject</c> disposition refuses the message at the end of DATA with <c>550 5.7.1</c>. Default true.</summary>
    public bool EnforceReject { get; set; } = true;

    /// <summary>What a <c>quarantine</c> disposition does. Default <see cref="DmarcQuarantineAction.Header"/>.</summary>
    public DmarcQuarantineAction QuarantineAction { get; set; } = DmarcQuarantineAction.Header;

    /// <summary>Whether each evaluated message is counted in its policy domain's aggregate-report data (<c>GET /api/dmarc/{domain}/{date}</c>). Default true.</summary>
    public bool RecordReports { get; set; } = true;

    /// <summary>A Public Suffix List file (publicsuffix.org format) to use instead of the copy built into Elemta, e.g. a newer <c>/usr/share/publicsuffix/public_suffix_list.dat</c>.</summary>
    public string? PublicSuffixFile { get; set; }
}

/// <summary>A method that is only switched on or off, sections <c>Elemta:MailAuth:Dkim</c> and <c>Elemta:MailAuth:Arc</c>.</summary>
public sealed class MethodOptions
{
    /// <summary>Whether the method runs on inbound mail. Default true.</summary>
    public bool Enabled { get; set; } = true;
}

/// <summary>ARC settings, section <c>Elemta:MailAuth:Arc</c>.</summary>
public sealed class ArcOptions
{
    /// <summary>Whether inbound ARC chains are validated (<c>arc=</c> in Authentication-Results). Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Sealing (RFC 8617 §5.1): when set, every inbound message gets an ARC set of this server (its
    /// Authentication-Results copied into ARC-Authentication-Results, signed with this key), so the receivers it is
    /// forwarded to can trust this server's verdict. Unset: no sealing.
    /// </summary>
    public ArcSealOptions? Seal { get; set; }
}

/// <summary>The key ARC sets are sealed with, section <c>Elemta:MailAuth:Arc:Seal</c>.</summary>
public sealed class ArcSealOptions
{
    /// <summary>The signing domain (<c>d=</c>).</summary>
    public string? Domain { get; set; }

    /// <summary>The selector (<c>s=</c>): the public key is published at <c>&lt;Selector&gt;._domainkey.&lt;Domain&gt;</c>.</summary>
    public string? Selector { get; set; }

    /// <summary>The RSA private key, PEM (<c>elemta dkim keygen</c> makes one).</summary>
    public string? KeyFile { get; set; }
}

/// <summary>SPF settings, section <c>Elemta:MailAuth:Spf</c>.</summary>
public sealed class SpfOptions
{
    /// <summary>Whether SPF is checked on inbound mail. Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Whether the HELO name is checked too (RFC 7208 §2.3, recommended). Default true.</summary>
    public bool CheckHelo { get; set; } = true;

    /// <summary>What an SPF fail of the MAIL FROM identity does. Default <see cref="SpfFailAction.Record"/>.</summary>
    public SpfFailAction FailAction { get; set; } = SpfFailAction.Record;

    /// <summary>What a temperror of the MAIL FROM identity does. Default <see cref="SpfTempErrorAction.Record"/>.</summary>
    public SpfTempErrorAction TempErrorAction { get; set; } = SpfTempErrorAction.Record;

    /// <summary>
    /// How long a result is reused for the same client address, sender and HELO name (temperrors are never reused).
    /// The DNS answers behind it are cached by their TTL anyway; this saves evaluating the same records again for a
    /// client that sends many messages. Default one minute; 00:00:00 turns it off.
    /// </summary>
    public TimeSpan ResultCacheTime { get; set; } = TimeSpan.FromMinutes(1);
}

/// <summary>
/// Inbound mail authentication, section <c>Elemta:MailAuth</c>. Inbound mail is mail from clients that are neither in
/// the trusted networks nor authenticated: their messages get one <c>Authentication-Results</c> header (RFC 8601), and
/// any such header that claims this server's authserv-id is removed first.
/// </summary>
public sealed class MailAuthenticationOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:MailAuth";

    /// <summary>The authserv-id of the <c>Authentication-Results</c> header. Default: the SMTP host name (<c>Elemta:Smtp:HostName</c>).</summary>
    public string? AuthServId { get; set; }

    /// <summary>Whether mail from the trusted networks is verified too (it is outbound or internal mail; default false).</summary>
    public bool VerifyTrustedClients { get; set; }

    /// <summary>SPF.</summary>
    public SpfOptions Spf { get; set; } = new();

    /// <summary>DMARC.</summary>
    public DmarcOptions Dmarc { get; set; } = new();

    /// <summary>DKIM verification of inbound mail (keys and their DNS: <c>Elemta:Dkim</c>).</summary>
    public MethodOptions Dkim { get; set; } = new();

    /// <summary>ARC validation of inbound mail that carries an ARC chain, and sealing.</summary>
    public ArcOptions Arc { get; set; } = new();
}
