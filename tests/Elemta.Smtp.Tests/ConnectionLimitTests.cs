namespace Elemta.Smtp.Tests;

/// <summary>
/// Concurrent-connection limits as the session applies them: over the limit <c>421 4.7.0</c> and close; an admitted
/// connection's place is released however the session ends. (The cluster-wide counting itself is the
/// <c>RateLimitGrain</c>'s, tested in Elemta.Grains.Tests and end to end in Elemta.Silo.Tests.)
/// </summary>
public sealed class ConnectionLimitTests
{
    [Fact]
    public async Task Over_the_total_limit_a_client_gets_421_4_7_0_too_many_connections_and_a_place_frees_when_a_session_ends()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: true, maxConcurrent: 1));
        await using var first = await server.ConnectAsync();
        (await first.ReadReplyAsync()).AssertIs(220);

        await using (var second = await server.ConnectAsync())
        {
            var refused = (await second.ReadReplyAsync()).AssertIs(421, "4.7.0");
            Assert.Equal("4.7.0 mx.test too many connections, try again later", refused.Text);
            await second.AssertClosedByServerAsync();
        }

        Assert.Equal(1, server.Policy.Open);
        (await first.CommandAsync("QUIT")).AssertIs(221);
        await server.Policy.WaitForReleaseAsync();
        Assert.Equal(0, server.Policy.Open);

        await using var third = await server.ConnectAsync();
        (await third.ReadReplyAsync()).AssertIs(220);
        Assert.Equal(1, server.Policy.Open);
    }

    [Fact]
    public async Task Over_the_per_address_limit_the_421_says_from_your_address()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: true, maxConcurrent: 1, overLimit: ConnectionDenial.TooManyFromAddress));
        await using var first = await server.ConnectAsync();
        (await first.ReadReplyAsync()).AssertIs(220);

        await using var second = await server.ConnectAsync();
        var refused = (await second.ReadReplyAsync()).AssertIs(421, "4.7.0");
        Assert.Equal("4.7.0 mx.test too many connections from your address, try again later", refused.Text);
        await second.AssertClosedByServerAsync();
        Assert.Contains(server.Logs, e => e.Message.Contains("refused: TooManyFromAddress", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_client_that_drops_the_connection_releases_its_place()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: true, maxConcurrent: 1));
        var client = await server.ConnectAsync();
        (await client.ReadReplyAsync()).AssertIs(220);
        (await client.CommandAsync("EHLO client.test")).AssertIs(250);
        Assert.Equal(1, server.Policy.Open);

        await client.DisposeAsync();
        await server.Policy.WaitForReleaseAsync();
        Assert.Equal(0, server.Policy.Open);
        Assert.Empty(server.SessionFailures);
    }

    [Fact]
    public async Task Sessions_open_at_shutdown_release_their_places()
    {
        await using var server = await SmtpTestServer.StartAsync(policy: new TestConnectionPolicy(allow: true));
        await using var a = await server.ConnectAndEhloAsync();
        await using var b = await server.ConnectAndEhloAsync();
        Assert.Equal(2, server.Policy.Open);

        await server.StopAsync();

        Assert.Equal(0, server.Policy.Open);
        (await a.ReadReplyAsync()).AssertIs(421, "4.3.2");
    }
}
