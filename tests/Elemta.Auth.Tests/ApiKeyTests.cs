using Elemta.Contracts;

namespace Elemta.Auth.Tests;

public sealed class ApiKeyTests
{
    private static readonly DateTimeOffset Now = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    [Fact]
    public void A_new_key_verifies_and_its_record_holds_only_a_hash_of_the_secret()
    {
        var (key, record) = ApiKeys.Create("ci", UserRole.Operator, Now, "cli:root", null);

        Assert.Matches("^elemta_[0-9a-f]{12}_[A-Za-z0-9_-]{43}$", key);
        Assert.Equal(record.Id, ApiKeys.IdOf(key));
        Assert.True(ApiKeys.Verify(record, key, Now));
        Assert.Equal(32, record.SecretHash.Length);
        Assert.DoesNotContain(System.Text.Encoding.ASCII.GetString(record.SecretHash), key, StringComparison.Ordinal);
    }

    [Fact]
    public void A_changed_revoked_or_expired_key_does_not_verify()
    {
        var (key, record) = ApiKeys.Create("ci", UserRole.Viewer, Now, "cli:root", Now.AddDays(1));
        var changed = key[..^1] + (key[^1] == 'A' ? 'B' : 'A');

        Assert.False(ApiKeys.Verify(record, changed, Now));
        Assert.False(ApiKeys.Verify(record, ApiKeys.Create("x", UserRole.Viewer, Now, "cli", null).Key, Now));
        Assert.False(ApiKeys.Verify(record with { RevokedAt = Now }, key, Now));
        Assert.True(ApiKeys.Verify(record, key, Now.AddHours(23)));
        Assert.False(ApiKeys.Verify(record, key, Now.AddDays(1)));
        Assert.Null(ApiKeys.IdOf("not-a-key"));
    }
}
