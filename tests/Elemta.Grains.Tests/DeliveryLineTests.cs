using Elemta.Contracts;
using Elemta.Grains.Observability;

namespace Elemta.Grains.Tests;

public sealed class DeliveryLineTests
{
    private static readonly DateTimeOffset Received = new(2026, 12, 3, 10, 0, 0, TimeSpan.Zero);

    [Theory]
    [InlineData("250 2.0.0 Ok: queued as X", "sent", "2.0.0")]
    [InlineData("550 5.1.1 no such user", "bounced", "5.1.1")]
    [InlineData("451 4.4.3 DNS lookup failed", "deferred", "4.4.3")]
    [InlineData("250 Ok", "sent", "2.0.0")]
    [InlineData("554 transaction failed", "bounced", "5.0.0")]
    [InlineData("connection refused", "deferred", "4.0.0")]
    [InlineData(null, "deferred", "4.0.0")]
    [InlineData("451 4.4.1 whatever", "expired", "4.4.7")]
    public void Dsn_is_the_reply_enhanced_code_or_one_from_the_status(string? reply, string status, string expected) =>
        Assert.Equal(expected, DeliveryLine.DsnOf(reply, status));

    [Fact]
    public void Delays_split_the_delay_into_queue_attempt_and_recording()
    {
        var attempt = new DeliveryAttempt("mx.example.net[192.0.2.1]:25", Received.AddSeconds(2), [], "192.0.2.1:25", "TLSv1.3 TLS_AES_256_GCM_SHA384 verified", TimeSpan.FromSeconds(1.5));
        var recipient = new RecipientState("bob@example.net", "example.net", RecipientStatus.Delivered, 1, "250 2.0.0 Ok", null, null);
        var line = DeliveryLine.Of(Received, attempt, recipient, expired: false, Received.AddSeconds(3.75));
        Assert.Equal(new DeliveryLine("mx.example.net[192.0.2.1]:25", "3.75", "2/1.5/0.25", "TLSv1.3 TLS_AES_256_GCM_SHA384 verified", "2.0.0", "sent"), line);
    }

    [Fact]
    public void A_failed_attempt_without_a_host_or_TLS_says_none_and_an_expired_recipient_says_expired()
    {
        var attempt = new DeliveryAttempt(string.Empty, Received.AddDays(5), [], Duration: TimeSpan.Zero);
        var recipient = new RecipientState("bob@example.net", "example.net", RecipientStatus.Failed, 9, "expired after 5.00:00:00 in queue; last reply: 451 4.4.1 timeout", null, null);
        var line = DeliveryLine.Of(Received, attempt, recipient, expired: true, Received.AddDays(5).AddSeconds(12));
        Assert.Equal(("none", "none", "4.4.7", "expired", "432012"), (line.Relay, line.Tls, line.Dsn, line.Status, line.Delay));
    }
}
