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
    public void Delays_are_before_the_queue_in_the_queue_connection_setup_and_transmission()
    {
        // Queued 0.25 s after the content started; the attempt 2 s later; 0.5 s of setup, 1 s of transfer, 0.25 s to record.
        var attempt = new DeliveryAttempt("mx.example.net[192.0.2.1]:25", Received.AddSeconds(2.25), [], "192.0.2.1:25", "TLSv1.3 TLS_AES_256_GCM_SHA384 verified", TimeSpan.FromSeconds(1.5), TimeSpan.FromSeconds(0.5));
        var recipient = new RecipientState("bob@example.net", "example.net", RecipientStatus.Delivered, 1, "250 2.0.0 Ok", null, null);
        var line = DeliveryLine.Of(Received, Received.AddSeconds(0.25), attempt, recipient, expired: false, Received.AddSeconds(4));
        Assert.Equal(new DeliveryLine("mx.example.net[192.0.2.1]:25", "4", "0.25/2/0.5/1.25", "TLSv1.3 TLS_AES_256_GCM_SHA384 verified", "2.0.0", "sent"), line);
    }

    [Fact]
    public void Long_delays_have_one_decimal_and_short_ones_two()
    {
        var attempt = new DeliveryAttempt("mx.example.net[192.0.2.1]:25", Received.AddSeconds(3600.04), [], Duration: TimeSpan.FromSeconds(0.123), Setup: TimeSpan.FromSeconds(0.004));
        var recipient = new RecipientState("bob@example.net", "example.net", RecipientStatus.Deferred, 2, "450 4.2.1 busy", null, null);
        var line = DeliveryLine.Of(Received, Received.AddSeconds(0.016), attempt, recipient, expired: false, Received.AddSeconds(3600.2));
        Assert.Equal(("3600.2", "0.02/3600/0/0.16", "deferred", "4.2.1"), (line.Delay, line.Delays, line.Status, line.Dsn));
    }

    [Fact]
    public void Without_a_queued_time_the_hand_over_counts_as_none_and_the_parts_still_add_up()
    {
        // A grain rebuilt after a restart does not know when the message was queued; a transfer that never began is all setup.
        var attempt = new DeliveryAttempt(string.Empty, Received.AddSeconds(1), [], Duration: TimeSpan.FromSeconds(3), Setup: TimeSpan.FromSeconds(3));
        var recipient = new RecipientState("bob@example.net", "example.net", RecipientStatus.Deferred, 1, "451 4.4.1 connection refused", null, null);
        var line = DeliveryLine.Of(Received, null, attempt, recipient, expired: false, Received.AddSeconds(4.5));
        Assert.Equal(("4.5", "0/1/3/0.5"), (line.Delay, line.Delays));
    }

    [Fact]
    public void Clocks_that_disagree_give_no_negative_part()
    {
        // An attempt stamped before the message was queued, with more setup than the whole delay: clamped, not negative.
        var attempt = new DeliveryAttempt(string.Empty, Received.AddSeconds(-1), [], Duration: TimeSpan.FromSeconds(10), Setup: TimeSpan.FromSeconds(10));
        var recipient = new RecipientState("bob@example.net", "example.net", RecipientStatus.Deferred, 1, "451 4.4.1 timeout", null, null);
        var line = DeliveryLine.Of(Received, Received.AddSeconds(0.5), attempt, recipient, expired: false, Received.AddSeconds(2));
        Assert.Equal(("2", "0.5/0/1.5/0"), (line.Delay, line.Delays));
    }

    [Fact]
    public void A_failed_attempt_without_a_host_or_TLS_says_none_and_an_expired_recipient_says_expired()
    {
        var attempt = new DeliveryAttempt(string.Empty, Received.AddDays(5), [], Duration: TimeSpan.Zero);
        var recipient = new RecipientState("bob@example.net", "example.net", RecipientStatus.Failed, 9, "expired after 5.00:00:00 in queue; last reply: 451 4.4.1 timeout", null, null);
        var line = DeliveryLine.Of(Received, Received, attempt, recipient, expired: true, Received.AddDays(5).AddSeconds(12));
        Assert.Equal(("none", "none", "4.4.7", "expired", "432012"), (line.Relay, line.Tls, line.Dsn, line.Status, line.Delay));
    }
}
