using System.Globalization;
using Elemta.Contracts;

namespace Elemta.Grains.Observability;

/// <summary>
/// The fields of the delivery log line, <c>&lt;queue id&gt;: to=&lt;rcpt&gt;, relay=host[ip]:port, delay=…,
/// delays=a/b/c/d, tls=…, dsn=x.y.z, status=sent (reply)</c>, shaped after Postfix's so the same greps and log tools
/// work. The four delays are Postfix's: <c>a</c> receipt (the start of the content) until the message is in its domain
/// queues (transfer, the durable commit, the hand-over to the message grain); <c>b</c> from then until this attempt
/// starts (waiting for its turn, earlier attempts and their deferrals, reading the content); <c>c</c> connection setup
/// (DNS, connect, greeting, EHLO, STARTTLS, AUTH); <c>d</c> transmission, from MAIL FROM to the final reply and its
/// outcome recorded (notices to the sender, the durable write). They add up to <c>delay</c>.
/// </summary>
/// <param name="Relay">The host that answered, <c>name[address]:port</c>, or <c>none</c>.</param>
/// <param name="Delay">Receipt to now, seconds.</param>
/// <param name="Delays">The four parts of <see cref="Delay"/>, seconds, <c>a/b/c/d</c>.</param>
/// <param name="Tls">The TLS of the session, e.g. <c>TLSv1.3 TLS_AES_256_GCM_SHA384 verified</c>, or <c>none</c>.</param>
/// <param name="Dsn">The enhanced status code of the reply (RFC 3463), or one made from its class.</param>
/// <param name="Status"><c>sent</c>, <c>deferred</c>, <c>bounced</c> or <c>expired</c>.</param>
public readonly record struct DeliveryLine(string Relay, string Delay, string Delays, string Tls, string Dsn, string Status)
{
    /// <summary>The line's fields for <paramref name="recipient"/> after <paramref name="attempt"/>.</summary>
    /// <param name="receivedAt">When the message's content started (its envelope's receipt time).</param>
    /// <param name="queuedAt">When the message was put in its domain queues; null when not known (the message grain
    /// was rebuilt from the store after a restart), which counts the hand-over as none and the rest to <c>b</c>.</param>
    /// <param name="attempt">The attempt.</param>
    /// <param name="recipient">The recipient's state after the attempt.</param>
    /// <param name="expired">Whether the recipient failed because its queue lifetime ran out.</param>
    /// <param name="now">When the outcome was recorded.</param>
    public static DeliveryLine Of(DateTimeOffset receivedAt, DateTimeOffset? queuedAt, DeliveryAttempt attempt, RecipientState recipient, bool expired, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(recipient);
        // Each boundary is kept between its neighbours, so the parts never go negative and always add up to the delay,
        // even when clocks disagree (the attempt's times come from the agent, after a hop to the thread pool).
        var end = Max(now, receivedAt);
        var queued = Clamp(queuedAt ?? receivedAt, receivedAt, end);
        var started = Clamp(attempt.StartedAt, queued, end);
        var transfer = Clamp(attempt.StartedAt + NonNegative(attempt.Setup), started, end);
        var status = recipient.Status switch
        {
            RecipientStatus.Delivered => "sent",
            RecipientStatus.Failed => expired ? "expired" : "bounced",
            _ => "deferred",
        };
        return new DeliveryLine(
            string.IsNullOrEmpty(attempt.RemoteHost) ? "none" : attempt.RemoteHost,
            Seconds(end - receivedAt),
            string.Create(CultureInfo.InvariantCulture, $"{Seconds(queued - receivedAt)}/{Seconds(started - queued)}/{Seconds(transfer - started)}/{Seconds(end - transfer)}"),
            string.IsNullOrEmpty(attempt.Tls) ? "none" : attempt.Tls,
            DsnOf(recipient.LastReply, status),
            status);
    }

    /// <summary>The enhanced status code in <paramref name="reply"/> (<c>250 2.0.0 Ok</c> gives <c>2.0.0</c>), else one from the status.</summary>
    public static string DsnOf(string? reply, string status)
    {
        if (status == "expired")
        {
            return "4.4.7"; // RFC 3463: delivery time expired
        }

        if (reply is { Length: >= 9 } && char.IsAsciiDigit(reply[0]) && char.IsAsciiDigit(reply[1]) && char.IsAsciiDigit(reply[2]) && reply[3] is ' ' or '-')
        {
            var code = reply.AsSpan(4);
            var end = code.IndexOf(' ');
            code = end < 0 ? code : code[..end];
            if (code.Length >= 5 && code[0] is '2' or '4' or '5' && code[1] == '.' && code.Count('.') == 2)
            {
                return code.ToString();
            }
        }

        return status switch
        {
            "sent" => "2.0.0",
            "deferred" => "4.0.0",
            _ => "5.0.0",
        };
    }

    private static TimeSpan NonNegative(TimeSpan value) => value < TimeSpan.Zero ? TimeSpan.Zero : value;

    private static DateTimeOffset Max(DateTimeOffset a, DateTimeOffset b) => a > b ? a : b;

    private static DateTimeOffset Clamp(DateTimeOffset value, DateTimeOffset low, DateTimeOffset high) =>
        value < low ? low : value > high ? high : value;

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(value.TotalSeconds < 10 ? "0.##" : "0.#", CultureInfo.InvariantCulture);
}
