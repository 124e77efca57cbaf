using Elemta.Delivery.Tls;

namespace Elemta.Delivery.Tests;

/// <summary>Which <c>TlsPolicies</c> entry applies to a recipient domain, dot-prefixed entries included.</summary>
public sealed class TlsPolicyLookupTests
{
    [Theory]
    [InlineData("example.com", TlsPolicy.Required)]
    [InlineData("EXAMPLE.com.", TlsPolicy.Required)]
    [InlineData("mx.example.com", TlsPolicy.Verify)]
    [InlineData("a.b.example.com", TlsPolicy.Verify)]
    [InlineData("secure.example.com", TlsPolicy.None)]
    [InlineData("x.secure.example.com", TlsPolicy.Verify)]
    [InlineData("deep.x.special.example.com", TlsPolicy.None)]
    [InlineData("badexample.com", TlsPolicy.Opportunistic)]
    [InlineData("example.org", TlsPolicy.Opportunistic)]
    public void Exact_entries_win_then_the_nearest_dot_prefixed_parent_then_the_default(string domain, TlsPolicy expected)
    {
        var options = new DeliveryOptions();
        options.TlsPolicies["example.com"] = TlsPolicy.Required;
        options.TlsPolicies[".example.com"] = TlsPolicy.Verify;
        options.TlsPolicies["secure.example.com"] = TlsPolicy.None;
        options.TlsPolicies[".special.example.com"] = TlsPolicy.None;

        Assert.Equal(expected, new OutboundTls(options).PolicyFor(domain));
    }
}
