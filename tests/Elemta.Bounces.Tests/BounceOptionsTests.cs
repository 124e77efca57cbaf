using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;
using static Elemta.Bounces.Tests.NoticeTestKit;

namespace Elemta.Bounces.Tests;

/// <summary><c>Elemta:Bounces</c>: binding, defaults, and validation at start with a message naming the key.</summary>
public class BounceOptionsTests
{
    [Fact]
    public void Defaults_are_valid_and_use_the_machine_host_name()
    {
        var options = new BounceOptions();
        Assert.Empty(options.Validate());
        Assert.Equal(System.Net.Dns.GetHostName(), options.EffectiveHostName);
        Assert.Equal(1024 * 1024, options.MaxReturnedSize);
    }

    [Theory]
    [InlineData("bad host", "ReportingHostName")]
    [InlineData("-leading.example", "ReportingHostName")]
    [InlineData("under_score.example", "ReportingHostName")]
    [InlineData("h\u00f6st.example", "ReportingHostName")]
    public void Invalid_host_name_is_refused_with_the_key_named(string host, string key)
    {
        var error = Assert.Single(new BounceOptions { ReportingHostName = host }.Validate());
        Assert.Contains($"Elemta:Bounces:{key}", error, StringComparison.Ordinal);
        Assert.Throws<ArgumentException>(() => new DeliveryStatusNoticeBuilder(new BounceOptions { ReportingHostName = host }, TimeProvider.System));
    }

    [Fact]
    public void Negative_size_limit_is_refused()
    {
        var error = Assert.Single(new BounceOptions { MaxReturnedSize = -1 }.Validate());
        Assert.Contains("Elemta:Bounces:MaxReturnedSize", error, StringComparison.Ordinal);
    }

    [Fact]
    public void Configured_host_name_is_used_throughout_the_notice()
    {
        var notice = Builder(new BounceOptions { ReportingHostName = "bounce.example.com" }).Build(Request(NoticeKind.Failure));
        var message = Parse(notice.Content);

        Assert.Equal("MAILER-DAEMON@bounce.example.com", Assert.IsType<MimeKit.MailboxAddress>(Assert.Single(message.From)).Address);
        Assert.Equal("q0002notice@bounce.example.com", message.MessageId);
        Assert.Equal("dns; bounce.example.com", Field(Parts(message).Status.StatusGroups[0], "Reporting-MTA"));
        Assert.Equal("bounce.example.com", notice.Envelope.HeloName);
    }

    [Fact]
    public void Registration_binds_the_section_and_builds_notices()
    {
        using var host = HostWith(new() { ["Elemta:Bounces:ReportingHostName"] = "relay.example.com", ["Elemta:Bounces:MaxReturnedSize"] = "2048" });

        Assert.Equal(2048, host.Services.GetRequiredService<IOptions<BounceOptions>>().Value.MaxReturnedSize);
        var notice = host.Services.GetRequiredService<DeliveryStatusNoticeBuilder>().Build(Request(NoticeKind.Failure));
        Assert.Equal("relay.example.com", notice.Envelope.HeloName);
    }

    [Fact]
    public async Task Invalid_configuration_stops_the_start_with_the_key_named()
    {
        using var host = HostWith(new() { ["Elemta:Bounces:ReportingHostName"] = "not a host" });

        var error = await Assert.ThrowsAsync<OptionsValidationException>(() => host.StartAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token));

        Assert.Contains("Elemta:Bounces:ReportingHostName", error.Message, StringComparison.Ordinal);
    }

    private static IHost HostWith(Dictionary<string, string?> settings)
    {
        var builder = Microsoft.Extensions.Hosting.Host.CreateApplicationBuilder();
        builder.Configuration.AddInMemoryCollection(settings);
        builder.Services.AddElemtaBounces(builder.Configuration);
        return builder.Build();
    }
}
