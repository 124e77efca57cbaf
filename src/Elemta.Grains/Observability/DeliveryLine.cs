using System.Globalization;
using Elemta.Contracts;

namespace Elemta.Grains.Observability;

/// <summary>
/// The fields of the delivery log line, <c>&lt;queue id&gt;: to=&lt;rcpt&gt;, relay=host[ip]:port, delay=…,
/// delays=a/b/c, tls=…, dsn=x.y.z, status=sent (reply)</c>, shaped after Postfix's so the same greps and log tools
/// work. Postfix's delays have four parts (before its queue manager, in it, connection setup, transmission);
/// Elemta's acceptance is committed before the 250 and its delivery agents do not time setup apart from
/// transmission, so it reports three: <c>a</c> receipt to the start of this attempt (time in the queue),
/// <c>b</c> the attempt itself (DNS, connection, TLS, transfer), <c>c</c> the attempt's end to the outcome being
/// recorded (notices to the sender and the durable write).
/// </summary>
/// <param name="Relay">The host that answered, <c>name[address]:port</c>, or <c>none</c>.</param>
/// <param name="Delay">Receipt to now, seconds.</param>
/// <param name="Delays">The three parts of <see cref="Delay"/>, seconds.</param>
/// <param name="Tls">The TLS of the session, e.g. <c>TLSv1.3 TLS_AES_256_GCM_SHA384 verified</c>, or <c>none</c>.</param>
/// <param name="Dsn">The enhanced status code of the reply (RFC 3463), or one made from its class.</param>
/// <param name="Status"><c>sent</c>, <c>deferred</c>, <c>bounced</c> or <c>expired</c>.</param>
public readonly record struct DeliveryLine(string Relay, string Delay, string Delays, string Tls, string Dsn, string Status)
{
    /// <summary>The line's fields for <paramref name="recipient"/> after <paramref name="attempt"/>.</summary>
    public static DeliveryLine Of(DateTimeOffset receivedAt, DeliveryAttempt attempt, RecipientState recipient, bool expired, DateTimeOffset now)
    {
        ArgumentNullException.ThrowIfNull(attempt);
        ArgumentNullException.ThrowIfNull(recipient);
        var attemptEnd = attempt.StartedAt + attempt.Duration;
        var a = NonNegative(attempt.StartedAt - receivedAt);
        var b = NonNegative(attempt.Duration);
        var c = NonNegative(now - attemptEnd);
        var status = recipient.Status switch
        {
            RecipientStatus.Delivered => "sent",
            RecipientStatus.Failed => expired ? "expired" : "bounced",
            _ => "deferred",
        };
        return new DeliveryLine(
            string.IsNullOrEmpty(attempt.RemoteHost) ? "none" : attempt.RemoteHost,
            Seconds(NonNegative(now - receivedAt)),
            $"{Seconds(a)}/{Seconds(b)}/{Seconds(c)}",
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

    private static string Seconds(TimeSpan value) => value.TotalSeconds.ToString(value.TotalSeconds < 10 ? "0.##" : "0.#", CultureInfo.InvariantCulture);
}
