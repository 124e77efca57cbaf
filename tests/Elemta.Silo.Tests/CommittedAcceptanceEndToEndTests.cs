using System.Diagnostics;
using System.Reflection;
using System.Text;
using Elemta.Contracts;
using Elemta.Smtp;
using Elemta.Storage;
using Elemta.Storage.Sqlite;
using Elemta.Testing;
using MailKit.Net.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MimeKit;

namespace Elemta.Silo.Tests;

/// <summary>
/// The 250-after-commit rule against a real silo: an SMTP front-end in the test process shares the silo's database
/// and commits there, while its grain calls fail, hang, or never happen. A committed message must be delivered by the
/// silo whatever became of the wake-up; a message whose commit failed gets 451 and is not queued.
/// </summary>
public sealed class CommittedAcceptanceEndToEndTests
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    [Fact]
    public async Task A_committed_message_whose_grain_call_throws_gets_250_and_is_delivered_by_the_queue_sweep()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Queue:SweepInterval"] = "00:00:00.5",
        });

        // No Orleans client at all: every grain call of this front-end fails, as calls to a dead silo's grains do.
        using var frontEnd = await StartFrontEndAsync(data.Path, services => services.AddSingleton(UnreachableCluster.Create()));
        var reply = await SendAsync(Port(frontEnd), "swept");

        Assert.StartsWith("2.0.0 Ok: queued as ", reply, StringComparison.Ordinal);
        var delivered = await sink.WaitForMessageAsync(m => Encoding.ASCII.GetString(m.Data).Contains("Subject: swept", StringComparison.Ordinal), Timeout);
        Assert.Equal(["bob@example.net"], delivered.Recipients);
        await frontEnd.StopAsync();
    }

    [Fact]
    public async Task A_grain_call_that_hangs_holds_the_250_only_for_the_wake_timeout()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
            ["Elemta:Queue:SweepInterval"] = "00:00:00.5",
        });
        using var frontEnd = await StartFrontEndAsync(data.Path, services => { }, silo.GatewayPort, wakeTimeout: "00:00:00.5");
        var port = Port(frontEnd);
        // Warm up the client's connection and the grain types, so the timing below is only the hung call's.
        Assert.StartsWith("2.0.0", await SendAsync(port, "warm-up"), StringComparison.Ordinal);
        await sink.WaitForMessageAsync(m => Encoding.ASCII.GetString(m.Data).Contains("Subject: warm-up", StringComparison.Ordinal), Timeout);

        // Frozen, not dead: its sockets stay open and a grain call waits for an answer, as during a long GC pause or
        // before a killed silo is declared dead.
        await silo.SignalAsync("STOP");
        string reply;
        var stopwatch = Stopwatch.StartNew();
        try
        {
            reply = await SendAsync(port, "frozen");
            stopwatch.Stop();
        }
        finally
        {
            await silo.SignalAsync("CONT");
        }

        Assert.StartsWith("2.0.0 Ok: queued as ", reply, StringComparison.Ordinal);
        Assert.True(stopwatch.Elapsed < TimeSpan.FromSeconds(5), $"250 after {stopwatch.Elapsed}");
        await sink.WaitForMessageAsync(m => Encoding.ASCII.GetString(m.Data).Contains("Subject: frozen", StringComparison.Ordinal), Timeout);
        await frontEnd.StopAsync();
    }

    [Fact]
    public async Task A_commit_that_fails_gets_451_and_nothing_is_queued()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
        });
        using var frontEnd = await StartFrontEndAsync(data.Path, services =>
        {
            services.AddSingleton(UnreachableCluster.Create());
            services.AddSingleton<IMessageAcceptor>(sp => ActivatorUtilities.CreateInstance<GrainMessageAcceptor>(sp, new FailingStore()));
        });

        var error = await Assert.ThrowsAsync<SmtpCommandException>(() => SendAsync(Port(frontEnd), "refused"));
        Assert.Equal(451, (int)error.StatusCode);
        Assert.Contains("4.3.0", error.Message + " " + error.ErrorCode, StringComparison.Ordinal);

        await using var client = await silo.ConnectClientAsync();
        Assert.Equal(0, (await client.GetStatisticsAsync()).Messages.Values.Sum());
        Assert.Empty(await client.ListAsync(new Elemta.Client.QueueFilter(MessageQueueState.Active)).ToListAsync());
        Assert.Empty(sink.Messages);
        await frontEnd.StopAsync();
    }

    private static int Port(IHost frontEnd) => frontEnd.Services.GetRequiredService<Elemta.Smtp.Server.SmtpListener>().EndPoints[0].Port;

    /// <summary>
    /// An SMTP front-end on the silo's SQLite file; with <paramref name="gatewayPort"/> an Orleans client of the silo,
    /// otherwise whatever <paramref name="configure"/> registers as the grain factory.
    /// </summary>
    private static async Task<IHost> StartFrontEndAsync(string dataDirectory, Action<IServiceCollection> configure, int? gatewayPort = null, string wakeTimeout = "00:00:02")
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Elemta:Smtp:Port"] = "0",
            ["Elemta:Smtp:ListenAddresses:0"] = "127.0.0.1",
            ["Elemta:Smtp:HostName"] = "frontend.elemta.test",
            ["Elemta:Smtp:WakeTimeout"] = wakeTimeout,
        });
        if (gatewayPort is { } gateway)
        {
            builder.UseOrleansClient(client => client.UseLocalhostClustering(gateway, "elemta", "elemta"));
        }

        builder.Services.AddElemtaStorage(new SqliteDatabase(SqliteDatabase.ConnectionStringFor(Path.Combine(dataDirectory, "elemta.db"))));
        configure(builder.Services);
        builder.Services.AddElemtaSmtpServer(builder.Configuration);
        var host = builder.Build();
        await host.StartAsync();
        return host;
    }

    private static async Task<string> SendAsync(int port, string subject)
    {
        using var client = new SmtpClient { Timeout = 30_000 };
        await client.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
        using var message = new MimeMessage();
        message.From.Add(new MailboxAddress("Alice", "alice@example.org"));
        message.To.Add(new MailboxAddress("Bob", "bob@example.net"));
        message.Subject = subject;
        message.Body = new TextPart("plain") { Text = "hello\r\n" };
        var reply = await client.SendAsync(message);
        await client.DisconnectAsync(true);
        return reply;
    }

    /// <summary>A message store whose commit fails, as an unreachable database does.</summary>
    private sealed class FailingStore : IMessageStore
    {
        public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
            throw new IOException("Test: the database is unreachable.");

        public Task<MessageEnvelope?> ReadEnvelopeAsync(string messageId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<byte[]?> ReadContentAsync(string messageId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task DeleteContentAsync(string messageId, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    /// <summary>A grain factory whose every call fails, as calls to grains of a dead silo do.</summary>
    public class UnreachableCluster : DispatchProxy
    {
        public static IGrainFactory Create() => Create<IGrainFactory, UnreachableCluster>();

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args) =>
            throw new TimeoutException("Test: the silo hosting this grain does not answer.");
    }
}
