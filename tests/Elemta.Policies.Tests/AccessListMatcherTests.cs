using System.Collections.Immutable;
using System.Net;
using Elemta.Contracts;
using Elemta.Policies.AccessLists;

namespace Elemta.Policies.Tests;

/// <summary>Which access-list entry decides for an address: the most specific network that holds it; at equal prefixes deny.</summary>
public sealed class AccessListMatcherTests
{
    private static AccessListPlugin.Matcher Matcher(params (string Network, AccessListAction Action)[] entries) =>
        new(new AccessList(1, [.. entries.Select(e => new AccessListEntry(e.Network, e.Action, string.Empty, DateTimeOffset.UnixEpoch, "test"))]));

    [Theory]
    [InlineData("10.1.2.3", AccessListAction.Allow)]
    [InlineData("10.1.9.9", AccessListAction.Deny)]
    [InlineData("10.9.9.9", AccessListAction.Allow)]
    [InlineData("11.0.0.1", null)]
    public void The_longest_prefix_decides(string address, AccessListAction? expected)
    {
        var matcher = Matcher(("10.0.0.0/8", AccessListAction.Allow), ("10.1.0.0/16", AccessListAction.Deny), ("10.1.2.0/24", AccessListAction.Allow));
        Assert.Equal(expected, matcher.Match(IPAddress.Parse(address)));
    }

    [Fact]
    public void At_equal_prefixes_deny_wins_whatever_the_order()
    {
        Assert.Equal(AccessListAction.Deny, Matcher(("192.0.2.0/24", AccessListAction.Allow), ("192.0.2.0/24", AccessListAction.Deny)).Match(IPAddress.Parse("192.0.2.1")));
        Assert.Equal(AccessListAction.Deny, Matcher(("192.0.2.0/24", AccessListAction.Deny), ("192.0.2.0/24", AccessListAction.Allow)).Match(IPAddress.Parse("192.0.2.1")));
    }

    [Fact]
    public void IPv6_entries_match_IPv6_clients_and_never_IPv4_ones()
    {
        var matcher = Matcher(("::/0", AccessListAction.Deny), ("2001:db8::/32", AccessListAction.Allow));
        Assert.Equal(AccessListAction.Allow, matcher.Match(IPAddress.Parse("2001:db8::25")));
        Assert.Equal(AccessListAction.Deny, matcher.Match(IPAddress.Parse("2001:db9::25")));
        Assert.Null(matcher.Match(IPAddress.Parse("192.0.2.1")));
        Assert.Equal(AccessListAction.Deny, Matcher(("0.0.0.0/0", AccessListAction.Deny)).Match(IPAddress.Parse("203.0.113.5")));
    }

    [Fact]
    public void An_empty_list_matches_nothing()
    {
        var matcher = new AccessListPlugin.Matcher(new AccessList(0, ImmutableArray<AccessListEntry>.Empty));
        Assert.True(matcher.IsEmpty);
        Assert.Null(matcher.Match(IPAddress.Loopback));
    }
}
