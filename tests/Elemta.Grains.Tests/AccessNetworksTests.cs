namespace Elemta.Grains.Tests;

/// <summary>How the access list reads the networks an operator types: one normalised spelling, or a clear refusal.</summary>
public sealed class AccessNetworksTests
{
    [Theory]
    [InlineData("192.0.2.0/24", "192.0.2.0/24")]
    [InlineData(" 192.0.2.7 ", "192.0.2.7/32")]
    [InlineData("0.0.0.0/0", "0.0.0.0/0")]
    [InlineData("2001:DB8:0:0::/32", "2001:db8::/32")]
    [InlineData("2001:db8::1", "2001:db8::1/128")]
    [InlineData("::/0", "::/0")]
    public void A_network_or_bare_address_is_normalised(string input, string expected)
    {
        Assert.True(AccessNetworks.TryNormalise(input, out var normalised, out var error), error);
        Assert.Equal(expected, normalised);
    }

    [Theory]
    [InlineData("", "network is required")]
    [InlineData("example.org", "network 'example.org' is not an IPv4 or IPv6 address or network in CIDR form")]
    [InlineData("10.1/8", "is not an IPv4 or IPv6 address")]
    [InlineData("192.0.2.0/", "has a bad prefix length: it must be 0-32 for an IPv4 network")]
    [InlineData("192.0.2.0/-1", "has a bad prefix length")]
    [InlineData("2001:db8::/129", "it must be 0-128 for an IPv6 network")]
    [InlineData("192.0.2.7/24", "has host bits set: the network is 192.0.2.0/24, or give the single address as 192.0.2.7/32")]
    [InlineData("2001:db8::1/64", "the network is 2001:db8::/64")]
    [InlineData("fe80::1%eth0", "is not an IPv4 or IPv6 address")]
    [InlineData("::ffff:192.0.2.1", "is IPv4-mapped IPv6: write it in IPv4 form")]
    public void A_malformed_network_is_refused_naming_the_field_and_the_fix(string input, string expected)
    {
        Assert.False(AccessNetworks.TryNormalise(input, out _, out var error));
        Assert.StartsWith("network", error, StringComparison.Ordinal);
        Assert.Contains(expected, error, StringComparison.Ordinal);
    }

    [Fact]
    public void Networks_sort_IPv4_first_then_by_address_then_by_prefix()
    {
        string[] networks = ["2001:db8::/32", "192.0.2.0/24", "10.0.0.0/8", "192.0.2.0/25", "10.0.0.1/32"];
        Assert.Equal(["10.0.0.0/8", "10.0.0.1/32", "192.0.2.0/24", "192.0.2.0/25", "2001:db8::/32"], networks.Order(Comparer<string>.Create(AccessNetworks.Compare)));
    }
}
