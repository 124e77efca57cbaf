using System.Text;
using Elemta.Contracts;
using MimeKit;
using static Elemta.Bounces.Tests.NoticeTestKit;

namespace Elemta.Bounces.Tests;

/// <summary>ENVID and ORCPT come back as given (RFC 3461 §4.2, §4.4); non-ASCII addresses use the utf-8 type (RFC 6533).</summary>
public class InternationalAndDsnParameterTests
{
    private static (MimeMessage Message, byte[] Content, MessageDeliveryStatus Status) Build(MessageEnvelope envelope, params RecipientReport[] reports)
    {
        var original = Encoding.ASCII.GetBytes(SimpleOriginal);
        var notice = Builder().Build(Request(NoticeKind.Failure, envelope with { Size = original.Length }, originalBytes: original, reports: reports));
        var message = Parse(notice.Content);
        return (message, notice.Content, Parts(message).Status);
    }

    [Fact]
    public void Envid_and_orcpt_round_trip_into_the_report()
    {
        var envelope = Envelope(
            recipients: ["bob@example.net", "carol@example.net"],
            dsn: Dsn("HDRS", "QQ314159+env id", new RecipientDsn("bob@example.net", "FAILURE", "rfc822;Bob.Original+tag@example.net")));

        var (_, _, status) = Build(envelope, Failed("bob@example.net"), Failed("carol@example.net"));

        Assert.Equal("QQ314159+env id", Field(status.StatusGroups[0], "Original-Envelope-Id"));
        var bob = status.StatusGroups[1];
        Assert.Equal(["Original-Recipient", "Final-Recipient", "Action", "Status"], bob.Select(h => h.Field).Take(4));
        Assert.Equal("rfc822;Bob.Original+tag@example.net", Field(bob, "Original-Recipient"));
        Assert.Equal("rfc822; bob@example.net", Field(bob, "Final-Recipient"));
        // Carol gave no ORCPT: no Original-Recipient is invented for her.
        Assert.Null(Field(status.StatusGroups[2], "Original-Recipient"));
    }

    [Fact]
    public void Utf8_orcpt_in_xtext_form_is_kept_as_given()
    {
        var envelope = Envelope(dsn: Dsn(recipients: new RecipientDsn("bob@example.net", null, "utf-8;j\\x{F6}rg@example.net")));

        var (_, _, status) = Build(envelope, Failed());

        Assert.Equal("utf-8;j\\x{F6}rg@example.net", Field(status.StatusGroups[1], "Original-Recipient"));
    }

    [Theory]
    [InlineData("utf-8;j\u00f6rg@b\u00fccher.example", "utf-8;j\\x{F6}rg@b\\x{FC}cher.example")]
    [InlineData("rfc822;j\u00f6rg+x@example.net", "utf-8;j\\x{F6}rg\\x{2B}x@example.net")]
    [InlineData("x-foreign;j\u00f6rg", null)]
    [InlineData("no-semicolon", null)]
    public void Non_ascii_orcpt_is_made_seven_bit_or_left_out(string orcpt, string? expected)
    {
        var envelope = Envelope(dsn: Dsn(recipients: new RecipientDsn("bob@example.net", null, orcpt)));

        var (_, content, status) = Build(envelope, Failed());

        Assert.Equal(expected, Field(status.StatusGroups[1], "Original-Recipient"));
        Assert.DoesNotContain(content, b => b >= 0x80);
    }

    [Fact]
    public void Non_ascii_recipient_is_reported_with_the_utf8_address_type_in_seven_bit_form()
    {
        var recipient = "j\u00f6rg+tag@b\u00fccher.example";
        var envelope = Envelope(recipients: [recipient]);

        var (message, content, status) = Build(envelope, Failed(recipient, "550 5.1.1 unknown user"));

        Assert.Equal("utf-8; j\\x{F6}rg\\x{2B}tag@b\\x{FC}cher.example", Field(status.StatusGroups[1], "Final-Recipient"));
        Assert.True(status.ContentType.IsMimeType("message", "delivery-status"));
        // The sender is ASCII and the original too: the whole notice stays 7-bit, the text part quoted-printable.
        Assert.DoesNotContain(content, b => b >= 0x80);
        var text = Parts(message).Text;
        Assert.Contains($"<{recipient}>: host mx1.example.net said: 550 5.1.1 unknown user", text.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Characters_beyond_the_basic_plane_are_escaped_as_one_code_point()
    {
        var envelope = Envelope(recipients: ["\U0001F600@example.net"]);
        var (_, _, status) = Build(envelope, Failed("\U0001F600@example.net"));
        Assert.Equal("utf-8; \\x{1F600}@example.net", Field(status.StatusGroups[1], "Final-Recipient"));
    }

    [Fact]
    public void Non_ascii_sender_gets_the_notice_addressed_in_utf8()
    {
        var sender = "j\u00f6rg@b\u00fccher.example";
        var original = Encoding.UTF8.GetBytes(SimpleOriginal);
        var notice = Builder().Build(Request(NoticeKind.Failure, Envelope(sender: sender, size: original.Length), originalBytes: original));

        Assert.Equal(sender, Assert.Single(notice.Envelope.Recipients));
        var message = Parse(notice.Content);
        Assert.Equal(sender, Assert.IsType<MailboxAddress>(Assert.Single(message.To)).Address);
        AssertCrlfOnly(notice.Content);
    }

    [Fact]
    public void Envelope_id_with_controls_or_non_ascii_stays_one_ascii_line()
    {
        var envelope = Envelope(dsn: Dsn(envelopeId: "id\r\nInjected: yes caf\u00e9", recipients: []));

        var (message, _, status) = Build(envelope, Failed());

        Assert.Equal("id Injected: yes caf\\x{E9}", Field(status.StatusGroups[0], "Original-Envelope-Id"));
        Assert.Null(Field(status.StatusGroups[0], "Injected"));
        Assert.False(message.Headers.Contains("Injected"));
    }
}
