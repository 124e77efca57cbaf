using System.Net;
using Elemta.MailAuth.Spf;
using Elemta.Testing;

namespace Elemta.MailAuth.Tests;

/// <summary>
/// <see cref="DnsClientSpfDns"/> over real DNS: DnsClient's LookupClient asking <see cref="LoopbackDnsServer"/> on
/// 127.0.0.1, and the evaluator on top of it.
/// </summary>
public sealed class DnsClientSpfDnsTests : IAsyncLifetime
{
    private static readonly IPAddress Client = IPAddress.Parse("192.0.2.10");
    private LoopbackDnsServer _dns = null!;

    public Task InitializeAsync()
    {
        _dns = LoopbackDnsServer.Start();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _dns.DisposeAsync();

    /// <summary>Generous for answers (a loaded machine has taken over a second on loopback); short where none comes.</summary>
    private DnsClientSpfDns Dns(TimeSpan? timeout = null) => new(new SpfDnsOptions
    {
        Servers = [_dns.EndPoint.ToString()],
        Timeout = timeout ?? TimeSpan.FromSeconds(4),
        Retries = 0,
    });

    private static CancellationToken Token() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    [Fact]
    public async Task EveryRecordTypeComesBackAsSpfNeedsIt()
    {
        // A record longer than 255 bytes travels as several character-strings, which SPF glues together (RFC 7208 §3.3).
        var longRecord = "v=spf1 " + string.Join(' ', Enumerable.Range(1, 30).Select(i => $"ip4:198.51.100.{i}")) + " -all";
        _dns.AddTxt("example.test", longRecord);
        _dns.AddTxt("example.test", "unrelated text");
        _dns.AddA("mail.example.test", Client);
        _dns.AddAaaa("mail.example.test", IPAddress.Parse("2001:db8::10"));
        _dns.AddMx("example.test", 10, "mail.example.test");
        _dns.AddPtr("10.2.0.192.in-addr.arpa", "mail.example.test");
        var dns = Dns();

        var txt = await dns.TxtAsync("example.test", Token());
        Assert.Equal(SpfDnsStatus.Records, txt.Status);
        Assert.Contains(longRecord, txt.Records);
        Assert.Contains("unrelated text", txt.Records);
        Assert.True(longRecord.Length > 255);

        Assert.Equal([Client], (await dns.AAsync("mail.example.test", Token())).Records);
        Assert.Equal([IPAddress.Parse("2001:db8::10")], (await dns.AaaaAsync("mail.example.test", Token())).Records);
        Assert.Equal(["mail.example.test"], (await dns.MxAsync("example.test", Token())).Records);
        Assert.Equal(["mail.example.test"], (await dns.PtrAsync(Client, Token())).Records);
    }

    [Fact]
    public async Task NxDomainAndNoDataAreVoid()
    {
        _dns.AddA("host.example.test", Client);
        var dns = Dns();

        Assert.Equal(SpfDnsStatus.Void, (await dns.AAsync("missing.example.test", Token())).Status);
        Assert.Equal(SpfDnsStatus.Void, (await dns.MxAsync("host.example.test", Token())).Status);
        Assert.Equal(SpfDnsStatus.Void, (await dns.TxtAsync("host.example.test", Token())).Status);
    }

    [Fact]
    public async Task ServerFailureIsATemporaryErrorAndTempErrorFromTheEvaluator()
    {
        _dns.AddTxt("example.test", "v=spf1 a:broken.example.test -all");
        _dns.SetServerFailure("broken.example.test");
        var dns = Dns();

        var answer = await dns.AAsync("broken.example.test", Token());
        Assert.Equal(SpfDnsStatus.TemporaryError, answer.Status);

        var result = await new SpfEvaluator(dns).CheckMailFromAsync(Client, "user@example.test", "mail.example.test", Token());
        Assert.Equal(SpfResultKind.TempError, result.Kind);
        Assert.Contains("broken.example.test", result.Problem, StringComparison.Ordinal);
    }

    [Fact]
    public async Task TimeoutIsATemporaryErrorAndTempErrorFromTheEvaluator()
    {
        _dns.SetNoResponse("example.test");
        var dns = Dns(TimeSpan.FromMilliseconds(500));

        var answer = await dns.TxtAsync("example.test", Token());
        Assert.Equal(SpfDnsStatus.TemporaryError, answer.Status);

        var result = await new SpfEvaluator(dns).CheckMailFromAsync(Client, "user@example.test", "mail.example.test", Token());
        Assert.Equal(SpfResultKind.TempError, result.Kind);
        Assert.Null(result.Mechanism);
        // The query was really sent (and went unanswered), not refused before the wire.
        Assert.Contains(_dns.Queries, q => q.Name == "example.test");
    }

    [Fact]
    public async Task CancellationIsNotATemporaryError()
    {
        _dns.SetNoResponse("example.test");
        var dns = Dns(TimeSpan.FromSeconds(20));
        using var cancel = new CancellationTokenSource();
        var query = dns.TxtAsync("example.test", cancel.Token);
        // Cancel once the question is on the wire, so it is the unanswered query that gets cancelled.
        await PollAsync(() => _dns.QueryCount > 0);
        await cancel.CancelAsync();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => query);
    }

    private static async Task PollAsync(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "condition not met within 10 s");
            await Task.Delay(10);
        }
    }

    [Fact]
    public async Task EvaluatorPassesThroughIncludeMxAndPtrOverRealDns()
    {
        _dns.AddTxt("example.test", "v=spf1 include:_spf.example.test -all");
        _dns.AddTxt("_spf.example.test", "v=spf1 mx:mx.example.test ptr:example.test ~all");
        _dns.AddMx("mx.example.test", 10, "mail.example.test");
        _dns.AddA("mail.example.test", IPAddress.Parse("192.0.2.99"));
        _dns.AddPtr("10.2.0.192.in-addr.arpa", "relay.example.test");
        _dns.AddA("relay.example.test", Client);
        var evaluator = new SpfEvaluator(Dns());

        var pass = await evaluator.CheckMailFromAsync(Client, "user@example.test", "relay.example.test", Token());
        Assert.Equal(SpfResultKind.Pass, pass.Kind);
        Assert.Equal("include:_spf.example.test", pass.Mechanism);

        var fail = await evaluator.CheckMailFromAsync(IPAddress.Parse("203.0.113.1"), "user@example.test", "relay.example.test", Token());
        Assert.Equal(SpfResultKind.Fail, fail.Kind);
        Assert.Equal("-all", fail.Mechanism);
        Assert.Equal("example.test does not designate 203.0.113.1 as a permitted sender", fail.Explanation);
    }

    [Fact]
    public void ABadServerEntryIsRejectedWithItsValue()
    {
        var error = Assert.Throws<ArgumentException>(() => new DnsClientSpfDns(new SpfDnsOptions { Servers = ["dns.example:53"] }));
        Assert.Contains("'dns.example:53'", error.Message, StringComparison.Ordinal);
    }
}
