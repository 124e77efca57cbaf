using Elemta.Smtp.Protocol;

namespace Elemta.Smtp.Tests;

/// <summary>The Reverse-path / Forward-path grammar of RFC 5321 §4.1.2, with the RFC 6531 UTF-8 extension.</summary>
public sealed class SmtpPathParserTests
{
    [Theory]
    [InlineData("<user@example.org>", "user@example.org", "example.org")]
    [InlineData("<First.Last+tag@Example.ORG>", "First.Last+tag@Example.ORG", "example.org")]
    [InlineData("<!#$%&'*+-/=?^_`{|}~@example.org>", "!#$%&'*+-/=?^_`{|}~@example.org", "example.org")]
    [InlineData("<\"john doe\"@example.org>", "\"john doe\"@example.org", "example.org")]
    [InlineData("<\"a\\\"b@c\"@example.org>", "\"a\\\"b@c\"@example.org", "example.org")]
    [InlineData("<\"a>b\"@example.org>", "\"a>b\"@example.org", "example.org")]
    [InlineData("<user@[192.0.2.1]>", "user@[192.0.2.1]", "[192.0.2.1]")]
    [InlineData("<user@[IPv6:::1]>", "user@[IPv6:::1]", "[ipv6:::1]")]
    [InlineData("<user@[IPv6:2001:db8::1]>", "user@[IPv6:2001:db8::1]", "[ipv6:2001:db8::1]")]
    [InlineData("<@a.example,@b.example:user@c.example>", "user@c.example", "c.example")]
    [InlineData("<@a.example:user@c.example>", "user@c.example", "c.example")]
    [InlineData("<user@[IPv6:1111:2222:3333:4444:5555::8888]>", "user@[IPv6:1111:2222:3333:4444:5555::8888]", "[ipv6:1111:2222:3333:4444:5555::8888]")]
    [InlineData("<user@[IPv6:::ffff:192.0.2.1]>", "user@[IPv6:::ffff:192.0.2.1]", "[ipv6:::ffff:192.0.2.1]")]
    [InlineData("<用户@例子.测试>", "用户@例子.测试", "例子.测试")]
    [InlineData(" <user@example.org>", "user@example.org", "example.org")]
    public void Valid_path_is_parsed_to_mailbox_and_lower_case_domain(string text, string mailbox, string domain)
    {
        var path = SmtpPathParser.Parse(text, allowNull: false, out var error);

        Assert.True(path is not null, $"rejected: {error}");
        Assert.Null(error);
        Assert.Equal(mailbox, path.Mailbox);
        Assert.Equal(domain, path.Domain);
        Assert.Empty(path.Parameters);
    }

    [Fact]
    public void Null_path_is_allowed_only_where_asked_for()
    {
        var path = SmtpPathParser.Parse("<>", allowNull: true, out var error);
        Assert.NotNull(path);
        Assert.Null(error);
        Assert.Equal(string.Empty, path.Mailbox);
        Assert.Equal(string.Empty, path.Domain);

        Assert.Null(SmtpPathParser.Parse("<>", allowNull: false, out error));
        Assert.NotNull(error);
    }

    [Fact]
    public void Local_part_of_64_octets_is_accepted_and_65_rejected()
    {
        Assert.NotNull(SmtpPathParser.Parse($"<{new string('a', 64)}@example.org>", allowNull: false, out _));

        Assert.Null(SmtpPathParser.Parse($"<{new string('a', 65)}@example.org>", allowNull: false, out var error));
        Assert.Contains("64", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Local_part_length_is_counted_in_UTF8_octets_not_characters()
    {
        // 'é' is two octets: 32 of them are 64 octets, 33 are 66.
        Assert.NotNull(SmtpPathParser.Parse($"<{new string('é', 32)}@example.org>", allowNull: false, out _));
        Assert.Null(SmtpPathParser.Parse($"<{new string('é', 33)}@example.org>", allowNull: false, out _));
    }

    [Fact]
    public void Path_of_256_octets_with_its_brackets_is_accepted_and_257_rejected()
    {
        var domain = string.Join('.', Enumerable.Repeat(new string('d', 63), 3)) + "." + new string('e', 57); // 249 octets
        Assert.NotNull(SmtpPathParser.Parse($"<abcd@{domain}>", allowNull: false, out _));                  // 4 + 1 + 249 + 2 = 256

        Assert.Null(SmtpPathParser.Parse($"<abcde@{domain}>", allowNull: false, out var error));
        Assert.Contains("254", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Domain_label_of_63_octets_is_accepted_and_64_rejected_and_domain_over_255_rejected()
    {
        Assert.NotNull(SmtpPathParser.Parse($"<u@{new string('a', 63)}.example>", allowNull: false, out _));
        Assert.Null(SmtpPathParser.Parse($"<u@{new string('a', 64)}.example>", allowNull: false, out _));

        var longDomain = string.Join('.', Enumerable.Repeat(new string('d', 63), 4)) + ".example"; // 263 octets
        Assert.Null(SmtpPathParser.Parse($"<u@{longDomain}>", allowNull: false, out _));
    }

    [Theory]
    [InlineData("user@example.org")]                  // no angle brackets
    [InlineData("<user@example.org")]                 // no closing bracket
    [InlineData("")]
    [InlineData("<userexample.org>")]                 // no @
    [InlineData("<@example.org>")]                    // empty local part
    [InlineData("<user@>")]                           // empty domain
    [InlineData("<user@-example.org>")]               // label with a leading hyphen
    [InlineData("<user@example-.org>")]               // label with a trailing hyphen
    [InlineData("<user@sub.-bad.example>")]           // leading hyphen in an inner label
    [InlineData("<user@exa..mple.org>")]              // empty label
    [InlineData("<user@.example.org>")]
    [InlineData("<user@exa_mple.org>")]               // underscore is not allowed in a host name
    [InlineData("<user@example.org..>")]
    [InlineData("<.user@example.org>")]               // dot-string may not start with a dot
    [InlineData("<user.@example.org>")]               // ... or end with one
    [InlineData("<us..er@example.org>")]              // ... or have two in a row
    [InlineData("<us er@example.org>")]               // space outside quotes
    [InlineData("<us(er@example.org>")]               // specials are not atext
    [InlineData("<\"unterminated@example.org>")]
    [InlineData("<\"bad\\\u0001\"@example.org>")]     // quoted-pair of a control character
    [InlineData("<\"a\u0007b\"@example.org>")]        // control character in a quoted string
    [InlineData("<user@[192.0.2.256]>")]              // octet out of range
    [InlineData("<user@[192.0.2]>")]                  // three octets
    [InlineData("<user@[192.0.2.1.5]>")]              // five octets
    [InlineData("<user@[IPv6:192.0.2.1]>")]           // IPv6 tag with an IPv4 address
    [InlineData("<user@[IPv6:not::an:address::]>")]
    [InlineData("<user@[::1]>")]                      // IPv6 literal without its tag
    [InlineData("<user@[192.0.2.1>")]                 // unterminated literal
    [InlineData("<@a.example user@c.example>")]       // source route without a colon
    [InlineData("<@:user@c.example>")]                // source route without a domain
    [InlineData("<@a.example,b.example:user@c.example>")] // second hop without its @
    [InlineData("<user@example.org.>")]               // trailing dot: Domain has no root label (RFC 5321 §4.1.2)
    [InlineData("<user@[IPv6:1:2:3:4:5:6::8]>")]      // "::" standing for one group (RFC 5321 §4.1.3)
    [InlineData("<user@[IPv6:1:2:3:4:5:6:7]>")]       // seven groups without "::"
    [InlineData("<user@[IPv6:1:2:3:4:5:192.0.2.1]>")] // five groups before IPv4 without "::"
    [InlineData("<user@[IPv6:fe80::1%eth0]>")]        // zone index
    [InlineData("<user@[tag:general-literal]>")]      // General-address-literal with an unregistered tag
    public void Invalid_path_is_rejected_with_a_reason(string text)
    {
        Assert.Null(SmtpPathParser.Parse(text, allowNull: true, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Parameters_are_split_with_upper_case_keywords_and_valueless_keywords_map_to_null()
    {
        var path = SmtpPathParser.Parse("<a@example.org> size=1000  BODY=8BITMIME SMTPUTF8", allowNull: true, out var error);

        Assert.True(path is not null, $"rejected: {error}");
        Assert.Equal(3, path.Parameters.Count);
        Assert.Equal("1000", path.Parameters["SIZE"]);
        Assert.Equal("8BITMIME", path.Parameters["BODY"]);
        Assert.True(path.Parameters.ContainsKey("SMTPUTF8"));
        Assert.Null(path.Parameters["SMTPUTF8"]);
    }

    [Theory]
    [InlineData("<a@example.org> =1000")]
    [InlineData("<a@example.org> SI_ZE=1")]
    public void Malformed_parameter_keyword_is_rejected(string text)
    {
        Assert.Null(SmtpPathParser.Parse(text, allowNull: true, out var error));
        Assert.Contains("parameter", error, StringComparison.Ordinal);
    }
}
