using System.Globalization;
using Microsoft.Extensions.Options;

namespace Elemta.Delivery.Local;

/// <summary>
/// Domains whose mail is delivered here rather than relayed (<c>Elemta:Delivery:LocalDomains:&lt;domain&gt;</c>), like
/// Postfix's <c>virtual_mailbox_domains</c> with a per-domain transport.
/// </summary>
public sealed class LocalDeliveryOptions
{
    /// <summary>The configuration section that holds <see cref="LocalDomains"/>.</summary>
    public const string SectionName = "Elemta:Delivery";

    /// <summary>Local domain (exact name, case-insensitive; no subdomains) → how its mail is delivered.</summary>
    public Dictionary<string, LocalDomainOptions> LocalDomains { get; set; } = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>The settings of <paramref name="domain"/>, or null when it is not a local domain.</summary>
    public LocalDomainOptions? Find(string domain) => LocalDomains.TryGetValue(domain, out var local) ? local : null;
}

/// <summary>How mail for one local domain is delivered.</summary>
public sealed class LocalDomainOptions
{
    /// <summary>The default mailbox path template.</summary>
    public const string DefaultMaildirPath = "/var/mail/{domain}/{user}/Maildir";

    /// <summary>
    /// <c>Maildir</c> (write into the recipients' Maildirs) or <c>Lmtp</c> (hand over to an LMTP server, RFC 2033).
    /// A string rather than an enum so that a typo gets a validation message naming the key.
    /// </summary>
    public string Transport { get; set; } = string.Empty;

    /// <summary>
    /// Maildir path template, absolute: <c>{domain}</c> is the domain and <c>{user}</c> the recipient's local part in
    /// lower case. Everything before the first placeholder is the root no delivery ever leaves.
    /// </summary>
    public string MaildirPath { get; set; } = DefaultMaildirPath;

    /// <summary>
    /// Whether a recipient's Maildir is created on first delivery. False refuses recipients without a Maildir with
    /// <c>550 5.1.1</c>, which is the safe default: otherwise every local part (typos, spam guesses) gets a mailbox.
    /// </summary>
    public bool CreateMailboxes { get; set; }

    /// <summary>Whether Maildir delivery prepends <c>Return-Path: &lt;sender&gt;</c> (RFC 5321 §4.4).</summary>
    public bool AddReturnPath { get; set; } = true;

    /// <summary>Whether Maildir delivery prepends <c>Delivered-To: &lt;recipient&gt;</c>, the loop marker Postfix and qmail write.</summary>
    public bool AddDeliveredTo { get; set; } = true;

    /// <summary>The LMTP server: <c>host:port</c> (<c>[::1]:24</c>; the port defaults to 24) or <c>unix:/path/to/socket</c>.</summary>
    public string? LmtpEndpoint { get; set; }

    /// <summary>How long to wait for the LMTP connection.</summary>
    public TimeSpan LmtpConnectTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long to wait for each LMTP reply, including each recipient's reply after the data.</summary>
    public TimeSpan LmtpCommandTimeout { get; set; } = TimeSpan.FromMinutes(5);

    /// <summary>The parsed <see cref="Transport"/>; only meaningful once the options are validated.</summary>
    internal LocalTransport ParsedTransport =>
        Enum.TryParse<LocalTransport>(Transport, ignoreCase: true, out var transport) && Enum.IsDefined(transport) ? transport : LocalTransport.Unknown;
}

/// <summary>How a local domain's mail is delivered.</summary>
internal enum LocalTransport
{
    Unknown = 0,
    Maildir = 1,
    Lmtp = 2,
}

/// <summary>Checks every local domain at start, with one message per bad value naming its key.</summary>
internal sealed class LocalDeliveryOptionsValidator : IValidateOptions<LocalDeliveryOptions>
{
    public ValidateOptionsResult Validate(string? name, LocalDeliveryOptions options)
    {
        var failures = new List<string>();
        foreach (var (domain, local) in options.LocalDomains)
        {
            var key = $"Elemta:Delivery:LocalDomains:{domain}";
            if (!IsDomainName(domain))
            {
                failures.Add($"{key}: '{domain}' is not a domain name.");
            }

            if (local is null)
            {
                failures.Add($"{key} has no settings; set at least {key}:Transport.");
                continue;
            }

            switch (local.ParsedTransport)
            {
                case LocalTransport.Maildir:
                    if (!MaildirPathTemplate.TryParse(local.MaildirPath, out _, out var templateError))
                    {
                        failures.Add($"{key}:MaildirPath {templateError}.");
                    }

                    break;
                case LocalTransport.Lmtp:
                    if (!LmtpEndpoint.TryParse(local.LmtpEndpoint, out _, out var endpointError))
                    {
                        failures.Add($"{key}:LmtpEndpoint {endpointError}.");
                    }

                    if (local.LmtpConnectTimeout <= TimeSpan.Zero)
                    {
                        failures.Add($"{key}:LmtpConnectTimeout must be positive.");
                    }

                    if (local.LmtpCommandTimeout <= TimeSpan.Zero)
                    {
                        failures.Add($"{key}:LmtpCommandTimeout must be positive.");
                    }

                    break;
                default:
                    failures.Add(string.Create(CultureInfo.InvariantCulture, $"{key}:Transport must be 'Maildir' or 'Lmtp' (is '{local.Transport}')."));
                    break;
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Letters, digits, hyphens and dots, as in a DNS name (U-labels are written as A-labels).</summary>
    private static bool IsDomainName(string domain) =>
        domain.Length is > 0 and <= 253
        && !domain.StartsWith('.') && !domain.EndsWith('.') && !domain.Contains("..", StringComparison.Ordinal)
        && domain.All(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '.');
}
