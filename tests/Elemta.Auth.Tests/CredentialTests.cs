using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Elemta.Contracts;

namespace Elemta.Auth.Tests;

// MD5 and HMAC-MD5 from .NET are the reference the CRAM-MD5 code is checked against; nothing here relies on them.
#pragma warning disable CA5351

public sealed class CredentialTests
{
    private static readonly CredentialOptions Fast = new() { PasswordIterations = CredentialOptions.MinPasswordIterations };

    [Fact]
    public void Md5_from_the_initial_state_matches_the_platform_MD5_for_every_padding_case()
    {
        for (var length = 0; length <= 200; length++)
        {
            var data = Enumerable.Range(0, length).Select(i => (byte)(i * 7 + length)).ToArray();
            Assert.Equal(MD5.HashData(data), Md5Context.Finish(Md5Context.Initial(), 0, data));
        }
    }

    [Theory]
    [InlineData("tanstaaftanstaaf")]
    [InlineData("a password much longer than the sixty-four octet block of MD5, so it is hashed first")]
    [InlineData("")]
    public void CramMd5_digest_from_stored_contexts_is_HMAC_MD5_of_the_challenge(string password)
    {
        var challenge = "<1896.697170952@postoffice.reston.mci.net>"u8.ToArray();
        var credential = CramMd5.CreateCredential(Encoding.UTF8.GetBytes(password));

        Assert.Equal(HMACMD5.HashData(Encoding.UTF8.GetBytes(password), challenge), CramMd5.Digest(credential, challenge));
    }

    [Fact]
    public void CramMd5_verifies_the_RFC_2195_example_and_refuses_another_challenge()
    {
        // RFC 2195 §2: user tim, secret tanstaaftanstaaf.
        var credential = CramMd5.CreateCredential("tanstaaftanstaaf"u8);

        Assert.True(CramMd5.Verify(credential, "<1896.697170952@postoffice.reston.mci.net>", "b913a602c7eda7a495b4e6e7334d3890"));
        Assert.False(CramMd5.Verify(credential, "<1897.697170952@postoffice.reston.mci.net>", "b913a602c7eda7a495b4e6e7334d3890"));
        Assert.False(CramMd5.Verify(credential, "<1896.697170952@postoffice.reston.mci.net>", "b913a602c7eda7a495b4e6e7334d3891"));
    }

    [Fact]
    public void Scram_verifies_the_RFC_7677_example_and_returns_its_server_signature()
    {
        // RFC 7677 §3: user "user", password "pencil".
        var credential = ScramSha256.CreateCredential("pencil"u8, Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
        const string authMessage = "n=user,r=rOprNGfwEbeRWgbNEkqO,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";

        var signature = ScramSha256.Verify(credential, authMessage, Convert.FromBase64String("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="));

        Assert.Equal("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=", Convert.ToBase64String(Assert.IsType<byte[]>(signature)));
    }

    [Fact]
    public void Scram_refuses_a_wrong_proof()
    {
        var credential = ScramSha256.CreateCredential("pencil"u8, Convert.FromBase64String("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096);
        var proof = Convert.FromBase64String("dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
        proof[0] ^= 1;

        Assert.Null(ScramSha256.Verify(credential, "n=user,r=x,r=xy,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=xy", proof));
        Assert.Null(ScramSha256.Verify(credential, "n=user,r=x", proof.AsSpan(0, 16)));
    }

    [Fact]
    public void Password_hash_verifies_the_password_only_and_uses_a_fresh_salt_each_time()
    {
        var first = Passwords.CreateCredentials("correct horse battery", Fast);
        var second = Passwords.CreateCredentials("correct horse battery", Fast);

        Assert.True(Passwords.Verify(first.Password, "correct horse battery"));
        Assert.False(Passwords.Verify(first.Password, "correct horse batterY"));
        Assert.False(Passwords.Verify(first.Password, ""));
        Assert.Equal(Passwords.Pbkdf2Sha256, first.Password.Algorithm);
        Assert.Equal(CredentialOptions.MinPasswordIterations, first.Password.Iterations);
        Assert.NotEqual(first.Password.Salt, second.Password.Salt);
        Assert.NotEqual(first.Password.Hash, second.Password.Hash);
        Assert.NotEqual(first.Scram!.StoredKey, second.Scram!.StoredKey);
    }

    [Fact]
    public void No_verifier_contains_the_password()
    {
        const string password = "plaintext-canary-9f3b";
        var credentials = Passwords.CreateCredentials(password, Fast);
        var secret = Encoding.UTF8.GetBytes(password);

        byte[][] stored = [credentials.Password.Salt, credentials.Password.Hash, credentials.Scram!.Salt, credentials.Scram.StoredKey, credentials.Scram.ServerKey, credentials.CramMd5!.InnerContext, credentials.CramMd5.OuterContext];
        Assert.All(stored, bytes => Assert.True(bytes.AsSpan().IndexOf(secret) < 0));
    }

    [Fact]
    public void StoreCramMd5_false_leaves_the_account_without_CRAM_MD5()
    {
        var credentials = Passwords.CreateCredentials("correct horse battery", new CredentialOptions { PasswordIterations = 10_000, StoreCramMd5 = false });

        Assert.Null(credentials.CramMd5);
    }

    [Theory]
    [InlineData("Alice", "alice")]
    [InlineData(" bob@Example.ORG ", "bob@example.org")]
    [InlineData("svc-relay_1+x", "svc-relay_1+x")]
    public void User_names_are_normalized_to_lower_case(string given, string expected)
    {
        Assert.Equal(expected, Passwords.NormalizeUserName(given, out var error));
        Assert.Null(error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("a b")]
    [InlineData("a\u0000b")]
    [InlineData("a:b")]
    public void Unusable_user_names_are_refused_with_a_reason(string given)
    {
        Assert.Null(Passwords.NormalizeUserName(given, out var error));
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void Roles_parse_by_name_and_refuse_unknown_ones()
    {
        Assert.Equal([UserRole.Sender, UserRole.Admin], Passwords.ParseRoles(["Sender", "admin", "sender"]).ToArray());
        Assert.Throws<FormatException>(() => Passwords.ParseRoles(["root"]));
        Assert.Throws<FormatException>(() => Passwords.ParseRoles(["3"]));
    }

    [Fact]
    public void Generated_passwords_are_long_random_and_acceptable()
    {
        var a = Passwords.Generate();
        var b = Passwords.Generate();

        Assert.Equal(24, a.Length);
        Assert.NotEqual(a, b);
        Assert.Null(Passwords.Check(a));
        Assert.NotNull(Passwords.Check("short"));
    }

    [Fact]
    public void Sender_rules_allow_addresses_domains_and_anything()
    {
        var credentials = Passwords.CreateCredentials("correct horse battery", Fast);
        UserAccount Account(string name, params string[] senders) => new(name, [UserRole.Sender], [.. senders], credentials, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);

        var own = Account("alice@example.org");
        Assert.True(SenderRules.Permits(own, "Alice@Example.org"));
        Assert.False(SenderRules.Permits(own, "bob@example.org"));
        Assert.False(SenderRules.Permits(own, ""));

        Assert.False(SenderRules.Permits(Account("relay"), "relay@example.org"));

        var listed = Account("app", "noreply@example.net", "@example.com");
        Assert.True(SenderRules.Permits(listed, "noreply@example.net"));
        Assert.True(SenderRules.Permits(listed, "anyone@EXAMPLE.com"));
        Assert.False(SenderRules.Permits(listed, "anyone@sub.example.com"));
        Assert.False(SenderRules.Permits(listed, "x@example.net"));

        var any = Account("gateway", "*");
        Assert.True(SenderRules.Permits(any, "x@anywhere.example"));
        Assert.True(SenderRules.Permits(any, ""));
    }

    [Theory]
    [InlineData("user@example.org", true)]
    [InlineData("@example.org", true)]
    [InlineData("*", true)]
    [InlineData("example.org", false)]
    [InlineData("user@", false)]
    [InlineData("a b@example.org", false)]
    public void Sender_rule_syntax_is_checked(string rule, bool valid)
    {
        Assert.Equal(valid, SenderRules.Check(rule) is null);
    }

    [Fact]
    public void Account_roles_are_queried_by_membership()
    {
        var account = new UserAccount("a", ImmutableArray.Create(UserRole.Admin, UserRole.Sender), [], Passwords.CreateCredentials("correct horse battery", Fast), DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);

        Assert.True(account.Has(UserRole.Sender));
        Assert.False(account.Has(UserRole.Viewer));
    }
}
