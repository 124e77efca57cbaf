using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Security.Authentication;
using Elemta.Smtp.Admission;

namespace Elemta.Smtp.Observability;

/// <summary>
/// The SMTP front-end's meter and activity source. Everything here is on the acceptance hot path, so each call is a
/// static instrument's <c>Add</c> with a tag built once (no allocation, no formatting); labels come from small fixed
/// sets, never from what a client sent. The Prometheus names are in docs/observability.md.
/// </summary>
public static class SmtpMetrics
{
    /// <summary>The meter's and the activity source's name, for OpenTelemetry and <c>dotnet-counters</c>.</summary>
    public const string Name = "Elemta.Smtp";

    private static readonly Meter Meter = new(Name);

    /// <summary>Activities: the SMTP session and the acceptance of each message.</summary>
    public static readonly ActivitySource Activities = new(Name);

    private static readonly UpDownCounter<long> OpenConnections = Meter.CreateUpDownCounter<long>(
        "elemta.smtp.connections.open", "{connection}", "SMTP connections open now");

    private static readonly Counter<long> Connections = Meter.CreateCounter<long>(
        "elemta.smtp.connections", "{connection}", "SMTP connections accepted by the listener");

    private static readonly Counter<long> Refused = Meter.CreateCounter<long>(
        "elemta.smtp.connections.refused", "{connection}", "SMTP connections answered 421 before the greeting, by reason");

    private static readonly Counter<long> Commands = Meter.CreateCounter<long>(
        "elemta.smtp.commands", "{command}", "SMTP commands received, by verb");

    private static readonly Counter<long> Replies = Meter.CreateCounter<long>(
        "elemta.smtp.replies", "{reply}", "SMTP replies sent, by code class");

    private static readonly Counter<long> Auth = Meter.CreateCounter<long>(
        "elemta.smtp.auth.attempts", "{attempt}", "SMTP AUTH exchanges that ended, by mechanism and result");

    private static readonly Counter<long> TlsSessions = Meter.CreateCounter<long>(
        "elemta.smtp.tls.sessions", "{session}", "Inbound TLS sessions established (STARTTLS or implicit TLS), by protocol version");

    private static readonly Counter<long> TlsFailures = Meter.CreateCounter<long>(
        "elemta.smtp.tls.failures", "{handshake}", "Inbound TLS handshakes that failed");

    private static readonly Counter<long> Received = Meter.CreateCounter<long>(
        "elemta.messages.received", "{message}", "Messages accepted over SMTP (answered 250 after DATA or the last BDAT)");

    private static readonly Counter<long> Rejected = Meter.CreateCounter<long>(
        "elemta.messages.rejected", "{message}", "Message transfers refused after the content was sent (size, content rules, storage failure)");

    private static readonly Counter<long> RateLimited = Meter.CreateCounter<long>(
        "elemta.rate_limit.refusals", "{refusal}", "Requests refused by a rate limit, by limit");

    private static readonly KeyValuePair<string, object?>[] ReplyClass =
    [
        new("class", "other"), new("class", "1xx"), new("class", "2xx"), new("class", "3xx"), new("class", "4xx"), new("class", "5xx"),
    ];

    private static readonly KeyValuePair<string, object?> RefusedRate = new("reason", "rate_limited");
    private static readonly KeyValuePair<string, object?> RefusedPerAddress = new("reason", "too_many_from_address");
    private static readonly KeyValuePair<string, object?> RefusedTotal = new("reason", "too_many_connections");
    private static readonly KeyValuePair<string, object?> RefusedUnavailable = new("reason", "policy_unavailable");
    private static readonly KeyValuePair<string, object?> LimitConnections = new("limit", "connections_per_address");
    private static readonly KeyValuePair<string, object?> LimitAuth = new("limit", "auth_failures");
    private static readonly KeyValuePair<string, object?> Tls12 = new("version", "tls1.2");
    private static readonly KeyValuePair<string, object?> Tls13 = new("version", "tls1.3");
    private static readonly KeyValuePair<string, object?> TlsOther = new("version", "other");

    private static readonly string[] Verbs = ["EHLO", "HELO", "MAIL", "RCPT", "DATA", "BDAT", "STARTTLS", "AUTH", "RSET", "NOOP", "QUIT", "VRFY", "EXPN", "HELP"];
    private static readonly KeyValuePair<string, object?>[] VerbTags = [.. Verbs.Select(v => new KeyValuePair<string, object?>("command", v))];
    private static readonly KeyValuePair<string, object?> VerbOther = new("command", "other");

    // Mechanism x result, built once: the set of mechanisms is fixed (SmtpServerOptions.AuthMechanisms).
    private static readonly string[] Mechanisms = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"];
    private static readonly string[] AuthResults = ["success", "failure", "locked_out", "cancelled", "malformed", "unavailable"];
    private static readonly KeyValuePair<string, object?>[][] AuthTags =
        [.. Mechanisms.Append("other").Select(m => AuthResults.Select(r => new[] { new KeyValuePair<string, object?>("mechanism", m), new KeyValuePair<string, object?>("result", r) }).SelectMany(t => t).ToArray())];

    private static Func<DateTimeOffset?>? _certificateNotAfter;

    static SmtpMetrics()
    {
        Meter.CreateObservableGauge("elemta.tls.certificate.not_after", ObserveCertificate, "s",
            "When the SMTP server's TLS certificate expires, in seconds since the Unix epoch (absent without a certificate)");
    }

    /// <summary>
    /// Adds 0 to every counter and label set, once a listener (the exporter) is there: a series that exists from the
    /// start lets <c>rate()</c> and the alerts see the first event, not only the second.
    /// </summary>
    public static void InitializeSeries()
    {
        OpenConnections.Add(0);
        Connections.Add(0);
        foreach (var reason in new[] { RefusedRate, RefusedPerAddress, RefusedTotal, RefusedUnavailable })
        {
            Refused.Add(0, reason);
        }

        foreach (var verb in VerbTags.Append(VerbOther))
        {
            Commands.Add(0, verb);
        }

        foreach (var cls in ReplyClass.AsSpan(2))
        {
            Replies.Add(0, cls);
        }

        foreach (var tls in new[] { Tls12, Tls13 })
        {
            TlsSessions.Add(0, tls);
        }

        TlsFailures.Add(0);
        Received.Add(0);
        Rejected.Add(0);
        RateLimited.Add(0, LimitConnections);
        RateLimited.Add(0, LimitAuth);
        foreach (var tags in AuthTags.AsSpan(0, Mechanisms.Length))
        {
            Auth.Add(0, tags[0], tags[1]);
            Auth.Add(0, tags[2], tags[3]);
        }
    }

    /// <summary>A connection was accepted; pair with <see cref="ConnectionClosed"/>.</summary>
    public static void ConnectionOpened()
    {
        Connections.Add(1);
        OpenConnections.Add(1);
    }

    /// <summary>A connection accepted by <see cref="ConnectionOpened"/> has ended.</summary>
    public static void ConnectionClosed() => OpenConnections.Add(-1);

    /// <summary>A connection was refused by the connection policy.</summary>
    public static void ConnectionRefused(ConnectionDenial denial)
    {
        switch (denial)
        {
            case ConnectionDenial.RateLimited:
                Refused.Add(1, RefusedRate);
                RateLimited.Add(1, LimitConnections);
                break;
            case ConnectionDenial.TooManyFromAddress:
                Refused.Add(1, RefusedPerAddress);
                break;
            default:
                Refused.Add(1, RefusedTotal);
                break;
        }
    }

    /// <summary>The connection policy could not be asked (the cluster was unavailable); the client got 421.</summary>
    public static void ConnectionPolicyUnavailable() => Refused.Add(1, RefusedUnavailable);

    /// <summary>A command with this (upper-case) verb was received.</summary>
    public static void Command(string verb)
    {
        var index = Array.IndexOf(Verbs, verb);
        Commands.Add(1, index < 0 ? VerbOther : VerbTags[index]);
    }

    /// <summary>A reply with this code was sent.</summary>
    public static void Reply(int code)
    {
        var cls = code / 100;
        Replies.Add(1, ReplyClass[cls is >= 1 and <= 5 ? cls : 0]);
    }

    /// <summary>An AUTH exchange ended.</summary>
    /// <param name="mechanism">The SASL mechanism, upper case.</param>
    /// <param name="result">One of <c>success</c>, <c>failure</c>, <c>locked_out</c>, <c>cancelled</c>, <c>malformed</c>, <c>unavailable</c>.</param>
    public static void AuthEnded(string mechanism, string result)
    {
        var m = Array.IndexOf(Mechanisms, mechanism);
        var r = Array.IndexOf(AuthResults, result);
        if (r < 0)
        {
            return;
        }

        var tags = AuthTags[m < 0 ? Mechanisms.Length : m];
        Auth.Add(1, tags[2 * r], tags[(2 * r) + 1]);
        if (r == 2)
        {
            RateLimited.Add(1, LimitAuth);
        }
    }

    /// <summary>An inbound TLS session was established with this protocol.</summary>
    public static void TlsEstablished(SslProtocols protocol) =>
        TlsSessions.Add(1, protocol switch
        {
            SslProtocols.Tls13 => Tls13,
            SslProtocols.Tls12 => Tls12,
            _ => TlsOther,
        });

    /// <summary>An inbound TLS handshake failed.</summary>
    public static void TlsFailed() => TlsFailures.Add(1);

    /// <summary>A message was accepted (250).</summary>
    public static void MessageReceived() => Received.Add(1);

    /// <summary>A message's content was refused after it was sent.</summary>
    public static void MessageRejected() => Rejected.Add(1);

    /// <summary>Where the certificate-expiry gauge reads the current certificate's not-after time (the listener sets it).</summary>
    public static void ObserveCertificateExpiry(Func<DateTimeOffset?> notAfter) => _certificateNotAfter = notAfter;

    private static IEnumerable<Measurement<long>> ObserveCertificate()
    {
        if (_certificateNotAfter?.Invoke() is { } notAfter)
        {
            yield return new Measurement<long>(notAfter.ToUnixTimeSeconds());
        }
    }
}
