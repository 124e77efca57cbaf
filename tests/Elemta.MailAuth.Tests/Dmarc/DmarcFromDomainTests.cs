using Elemta.MailAuth.Dmarc;
using MimeKit;

namespace Elemta.MailAuth.Tests.Dmarc;

/// <summary>The RFC5322.From domain DMARC evaluates (RFC 7489 §6.6.1).</summary>
public sealed class DmarcFromDomainTests
{
    [Theory]
    [InlineData("John Q Doe <jqd@Example.COM>", "example.com")]
    [InlineData("jqd@mail.example.com", "mail.example.com")]
    [InlineData("\"Doe, John\" <jqd@example.com>, Jane <jane@EXAMPLE.com>", "example.com")]
    [InlineData("Team: a@example.org, b@example.org;", "example.org")]
    public void OneFromFieldWithOneDomainGivesThatDomain(string from, string expected)
    {
        var result = DmarcFromDomain.Extract([from]);

        Assert.True(result.Found, result.Problem);
        Assert.Equal(expected, result.Domain);
    }

    [Theory]
    [InlineData(new string[0], "no From")]
    [InlineData(new[] { "a@example.com", "b@example.com" }, "2 From header fields")]
    [InlineData(new[] { "a@example.com, b@example.net" }, "different domains")]
    [InlineData(new[] { "Undisclosed:;" }, "no mailbox")]
    [InlineData(new[] { "just-a-local-part" }, "no domain")]
    public void AnythingElseIsAProblemForAPermError(string[] fromFields, string named)
    {
        var result = DmarcFromDomain.Extract(fromFields);

        Assert.False(result.Found);
        Assert.Contains(named, result.Problem, StringComparison.Ordinal);
        var permerror = DmarcEvaluator.PermError(null, result.Problem!);
        Assert.Equal(DmarcResultKind.PermError, permerror.Kind);
        Assert.Equal("dmarc=permerror", permerror.ToAuthenticationResults());
    }

    [Fact]
    public void AParsedMessagesHeadersAreRead()
    {
        var message = MimeMessage.Load(new MemoryStream("From: a@example.com\r\nFrom: b@example.com\r\nSubject: x\r\n\r\nbody\r\n"u8.ToArray()));
        Assert.Contains("2 From", DmarcFromDomain.Extract(message.Headers).Problem, StringComparison.Ordinal);

        message.Headers.RemoveAll(HeaderId.From);
        message.Headers.Add(HeaderId.From, "Sender <s@lists.example.org>");
        Assert.Equal("lists.example.org", DmarcFromDomain.Extract(message.Headers).Domain);
    }
}
