using Elemta.Contracts;

namespace Elemta.Smtp.Tests;

public sealed class PriorityRulesTests
{
    private static MessageEnvelope Envelope(string sender, params string[] recipients) =>
        new("id", sender, [.. recipients], DateTimeOffset.UnixEpoch, "192.0.2.1", "client", 10, MessagePriority.Normal);

    private static readonly PriorityRulesOptions Rules = new()
    {
        PriorityRules =
        [
            new PriorityRule { Sender = "alerts@ops.example", Priority = MessagePriority.Critical },
            new PriorityRule { Sender = "@news.example", Priority = MessagePriority.Bulk },
            new PriorityRule { Sender = "<>", Priority = MessagePriority.High },
            new PriorityRule { RecipientDomain = ".partner.example", Priority = MessagePriority.High },
            new PriorityRule { Sender = "@news.example", RecipientDomain = "vip.example", Priority = MessagePriority.Critical },
        ],
    };

    [Theory]
    [InlineData("alerts@ops.example", "a@x.example", MessagePriority.Critical)]
    [InlineData("ALERTS@OPS.EXAMPLE", "a@x.example", MessagePriority.Critical)]
    [InlineData("letter@news.example", "a@x.example", MessagePriority.Bulk)]
    [InlineData("letter@news.example", "a@vip.example", MessagePriority.Bulk)]
    [InlineData("", "a@x.example", MessagePriority.High)]
    [InlineData("bob@home.example", "a@mail.partner.example", MessagePriority.High)]
    [InlineData("bob@home.example", "a@partner.example", MessagePriority.High)]
    [InlineData("bob@home.example", "a@notpartner.example", MessagePriority.Normal)]
    [InlineData("bob@sub.news.example", "a@x.example", MessagePriority.Normal)]
    public void The_first_matching_rule_sets_the_priority(string sender, string recipient, MessagePriority expected)
    {
        Assert.Equal(expected, Rules.PriorityOf(Envelope(sender, recipient)));
    }

    [Fact]
    public void A_rule_on_a_recipient_domain_matches_when_any_recipient_is_in_it()
    {
        Assert.Equal(MessagePriority.High, Rules.PriorityOf(Envelope("bob@home.example", "a@x.example", "b@partner.example")));
    }

    [Fact]
    public void Without_rules_the_submitted_priority_stays()
    {
        var envelope = Envelope("bob@home.example", "a@x.example") with { Priority = MessagePriority.Low };
        Assert.Equal(MessagePriority.Low, new PriorityRulesOptions().PriorityOf(envelope));
    }
}
