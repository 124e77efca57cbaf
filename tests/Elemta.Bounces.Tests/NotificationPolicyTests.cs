using static Elemta.Bounces.Tests.NoticeTestKit;

namespace Elemta.Bounces.Tests;

/// <summary>RFC 3461 §4.1: which notices are due for which recipient.</summary>
public class NotificationPolicyTests
{
    [Theory]
    [InlineData(NoticeKind.Failure)]
    [InlineData(NoticeKind.Delay)]
    [InlineData(NoticeKind.Success)]
    public void Null_sender_never_gets_a_notice_even_when_notify_asks_for_it(NoticeKind kind)
    {
        var envelope = Envelope(sender: "", dsn: Dsn(recipients: new Contracts.RecipientDsn("bob@example.net", "SUCCESS,FAILURE,DELAY", null)));

        Assert.False(NotificationPolicy.ShouldNotify(envelope, "bob@example.net", kind));
        Assert.False(NotificationPolicy.ShouldNotify(Envelope(sender: ""), "bob@example.net", kind));
    }

    [Theory]
    [InlineData(NoticeKind.Failure, true)]
    [InlineData(NoticeKind.Delay, true)]
    [InlineData(NoticeKind.Success, false)]
    public void Without_notify_failures_and_delays_are_reported_but_not_successes(NoticeKind kind, bool expected)
    {
        Assert.Equal(expected, NotificationPolicy.ShouldNotify(Envelope(), "bob@example.net", kind));

        // DSN parameters given for the message (RET) or another recipient do not change this recipient's default.
        var others = Envelope(dsn: Dsn("HDRS", "env-1", new Contracts.RecipientDsn("carol@example.net", "NEVER", null)));
        Assert.Equal(expected, NotificationPolicy.ShouldNotify(others, "bob@example.net", kind));

        // A recipient with ORCPT but no NOTIFY keeps the default too.
        var orcptOnly = Envelope(dsn: Dsn(recipients: new Contracts.RecipientDsn("bob@example.net", null, "rfc822;bob@example.net")));
        Assert.Equal(expected, NotificationPolicy.ShouldNotify(orcptOnly, "bob@example.net", kind));
    }

    [Theory]
    [InlineData(NoticeKind.Failure)]
    [InlineData(NoticeKind.Delay)]
    [InlineData(NoticeKind.Success)]
    public void Notify_never_means_no_notice_of_any_kind(NoticeKind kind)
    {
        var envelope = Envelope(dsn: Dsn(recipients: new Contracts.RecipientDsn("bob@example.net", "NEVER", null)));
        Assert.False(NotificationPolicy.ShouldNotify(envelope, "bob@example.net", kind));
    }

    [Theory]
    [InlineData("SUCCESS", true, false, false)]
    [InlineData("FAILURE", false, true, false)]
    [InlineData("DELAY", false, false, true)]
    [InlineData("SUCCESS,FAILURE", true, true, false)]
    [InlineData("FAILURE,DELAY", false, true, true)]
    [InlineData("SUCCESS,DELAY", true, false, true)]
    [InlineData("DELAY,SUCCESS,FAILURE", true, true, true)]
    [InlineData("success,failure", true, true, false)]
    public void Explicit_notify_reports_exactly_what_it_lists(string notify, bool success, bool failure, bool delay)
    {
        var envelope = Envelope(dsn: Dsn(recipients: new Contracts.RecipientDsn("bob@example.net", notify, null)));

        Assert.Equal(success, NotificationPolicy.ShouldNotify(envelope, "bob@example.net", NoticeKind.Success));
        Assert.Equal(failure, NotificationPolicy.ShouldNotify(envelope, "bob@example.net", NoticeKind.Failure));
        Assert.Equal(delay, NotificationPolicy.ShouldNotify(envelope, "bob@example.net", NoticeKind.Delay));
    }

    [Fact]
    public void Recipient_parameters_are_matched_ignoring_case_as_the_front_end_deduplicates()
    {
        var envelope = Envelope(dsn: Dsn(recipients: new Contracts.RecipientDsn("Bob@Example.NET", "NEVER", null)));
        Assert.False(NotificationPolicy.ShouldNotify(envelope, "bob@example.net", NoticeKind.Failure));
    }

    [Fact]
    public void Due_keeps_only_the_recipients_that_want_the_notice()
    {
        var envelope = Envelope(
            recipients: ["bob@example.net", "carol@example.net", "dave@example.net"],
            dsn: Dsn(recipients:
            [
                new Contracts.RecipientDsn("carol@example.net", "NEVER", null),
                new Contracts.RecipientDsn("dave@example.net", "SUCCESS", null),
            ]));
        RecipientReport[] reports = [Failed("bob@example.net"), Failed("carol@example.net"), Failed("dave@example.net")];

        var due = NotificationPolicy.Due(envelope, NoticeKind.Failure, reports);

        Assert.Equal(["bob@example.net"], due.Select(r => r.Address));
        Assert.Empty(NotificationPolicy.Due(Envelope(sender: ""), NoticeKind.Failure, reports));
    }

    [Theory]
    [InlineData(RecipientAction.Failed, NoticeKind.Failure)]
    [InlineData(RecipientAction.Delayed, NoticeKind.Delay)]
    [InlineData(RecipientAction.Delivered, NoticeKind.Success)]
    [InlineData(RecipientAction.Relayed, NoticeKind.Success)]
    public void Each_action_belongs_to_one_kind_of_notice(RecipientAction action, NoticeKind kind) =>
        Assert.Equal(kind, NotificationPolicy.KindOf(action));
}
