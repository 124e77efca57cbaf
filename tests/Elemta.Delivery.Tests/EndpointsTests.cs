using System.Net;

namespace Elemta.Delivery.Tests;

public sealed class EndpointsTests
{
    [Theory]
    [InlineData("mx.example.net", "mx.example.net", 25)]
    [InlineData("mx.example.net:2525", "mx.example.net", 2525)]
    [InlineData("  mx.example.net:2525  ", "mx.example.net", 2525)]
    [InlineData("127.0.0.1:2526", "127.0.0.1", 2526)]
    [InlineData("127.0.0.1", "127.0.0.1", 25)]
    [InlineData("[::1]:25", "::1", 25)]
    [InlineData("[::1]:2526", "::1", 2526)]
    [InlineData("[::1]", "::1", 25)]
    [InlineData("[2001:db8::5]:587", "2001:db8::5", 587)]
    [InlineData("mx.example.net:1", "mx.example.net", 1)]
    [InlineData("mx.example.net:65535", "mx.example.net", 65535)]
    public void TryParseHostPort_accepts_host_with_optional_port(string value, string expectedHost, int expectedPort)
    {
        Assert.True(Endpoints.TryParseHostPort(value, 25, out var host, out var port, out var error), error);
        Assert.Equal(expectedHost, host);
        Assert.Equal(expectedPort, port);
        Assert.Null(error);
    }

    [Fact]
    public void TryParseHostPort_uses_the_default_port_when_none_is_given()
    {
        Assert.True(Endpoints.TryParseHostPort("mx.example.net", 2525, out _, out var port, out _));
        Assert.Equal(2525, port);
    }

    [Theory]
    [InlineData("mx.example.net:0")]
    [InlineData("mx.example.net:65536")]
    [InlineData("mx.example.net:99999999999")]
    [InlineData("mx.example.net:abc")]
    [InlineData("mx.example.net:-1")]
    [InlineData("mx.example.net:+25")]
    [InlineData("mx.example.net: 25")]
    [InlineData("[::1]:0")]
    [InlineData("[::1]:port")]
    public void TryParseHostPort_rejects_a_bad_port(string value)
    {
        Assert.False(Endpoints.TryParseHostPort(value, 25, out _, out _, out var error));
        Assert.Contains("invalid port", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("mx.example.net:")]
    [InlineData("[::1]:")]
    public void TryParseHostPort_rejects_a_colon_without_a_port(string value)
    {
        Assert.False(Endpoints.TryParseHostPort(value, 25, out _, out _, out var error));
        Assert.Contains("invalid port", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("::1")]
    [InlineData("::1:25")]
    [InlineData("2001:db8::5")]
    [InlineData("fe80::1:2525")]
    public void TryParseHostPort_rejects_an_unbracketed_IPv6_address(string value)
    {
        Assert.False(Endpoints.TryParseHostPort(value, 25, out _, out _, out var error));
        Assert.Contains("IPv6", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData(":25", "no host")]
    [InlineData("[]:25", "no host")]
    [InlineData("[::1", "without ']'")]
    [InlineData("[::1]25", "not ':port'")]
    [InlineData("[::1]x:25", "not ':port'")]
    public void TryParseHostPort_rejects_malformed_values_with_a_reason(string value, string reason)
    {
        Assert.False(Endpoints.TryParseHostPort(value, 25, out _, out _, out var error));
        Assert.Contains(reason, error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("127.0.0.1", "127.0.0.1", 53)]
    [InlineData("127.0.0.1:5353", "127.0.0.1", 5353)]
    [InlineData("[::1]:5353", "::1", 5353)]
    [InlineData("[::1]", "::1", 53)]
    [InlineData("192.0.2.53", "192.0.2.53", 53)]
    public void TryParseNameServer_accepts_an_IP_address_with_optional_port(string value, string address, int port)
    {
        Assert.True(Endpoints.TryParseNameServer(value, out var endPoint, out var error), error);
        Assert.Equal(new IPEndPoint(IPAddress.Parse(address), port), endPoint);
        Assert.Null(error);
    }

    [Theory]
    [InlineData("ns1.example.net")]
    [InlineData("ns1.example.net:53")]
    [InlineData("localhost:5353")]
    public void TryParseNameServer_rejects_a_host_name(string value)
    {
        Assert.False(Endpoints.TryParseNameServer(value, out var endPoint, out var error));
        Assert.Null(endPoint);
        Assert.Contains("is not an IP address", error, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("::1")]
    [InlineData("127.0.0.1:0")]
    [InlineData("127.0.0.1:70000")]
    [InlineData("")]
    public void TryParseNameServer_rejects_what_TryParseHostPort_rejects(string value)
    {
        Assert.False(Endpoints.TryParseNameServer(value, out var endPoint, out var error));
        Assert.Null(endPoint);
        Assert.NotNull(error);
    }
}
