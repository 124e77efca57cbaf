using Elemta.Testing;
using Xunit.Abstractions;

namespace Elemta.Silo.Tests;

/// <summary>
/// Issue 15's connection fault: 5,000 idle SMTP connections held at once by one silo, each greeted; the next ones are
/// refused cleanly (<c>421 4.7.0</c>) at Elemta:Smtp:MaxConnections; the silo's resident memory stays bounded and
/// the figures are written to the test output (and docs/reliability.md).
/// </summary>
public sealed class IdleConnectionTests(ITestOutputHelper output)
{
    private const int Held = 5000;

    [Fact]
    public async Task Five_thousand_idle_connections_are_held_the_next_are_refused_421_and_memory_stays_bounded()
    {
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Smtp:MaxConnections"] = Held.ToString(System.Globalization.CultureInfo.InvariantCulture),
        });

        // A warm silo first: one full session, so that the baseline includes the code paths a session uses.
        using (var first = await ConnectAsync(silo.SmtpPort))
        {
            Assert.StartsWith("220 ", first.Greeting, StringComparison.Ordinal);
        }

        var before = silo.ResidentBytes();
        var connections = new List<SmtpLineClient>(Held);
        try
        {
            // In groups, so the listen backlog is not what is being tested.
            for (var i = 0; i < Held; i += 250)
            {
                connections.AddRange(await Task.WhenAll(Enumerable.Range(0, Math.Min(250, Held - i)).Select(_ => ConnectAsync(silo.SmtpPort))));
            }

            Assert.All(connections, c => Assert.StartsWith("220 ", c.Greeting, StringComparison.Ordinal));
            var held = silo.ResidentBytes();

            // At the limit: refused with a reply, not dropped or left hanging.
            for (var i = 0; i < 20; i++)
            {
                using var extra = await ConnectAsync(silo.SmtpPort);
                Assert.StartsWith("421 4.7.0", extra.Greeting, StringComparison.Ordinal);
            }

            // The held ones still answer.
            foreach (var c in connections.Take(50))
            {
                Assert.StartsWith("250", await c.CommandAsync("NOOP"), StringComparison.Ordinal);
            }

            var perConnection = (held - before) / Held;
            output.WriteLine($"RSS before {before / 1048576} MiB, with {Held} idle connections {held / 1048576} MiB: {perConnection / 1024} KiB per connection");
            // Bounded: what one idle session costs (socket, pipe, session state) is kilobytes, not a message buffer.
            Assert.True(perConnection < 64 * 1024, $"{perConnection} octets per idle connection");
            Assert.False(silo.HasExited);
        }
        finally
        {
            foreach (var c in connections)
            {
                c.Dispose();
            }
        }

        // Once they are gone, new clients are admitted again.
        await Eventually.GetAsync(async () => { using var c = await ConnectAsync(silo.SmtpPort); return c.Greeting; },
            g => g.StartsWith("220 ", StringComparison.Ordinal), TimeSpan.FromSeconds(30), "a greeting after the idle connections closed");
    }

    private static Task<SmtpLineClient> ConnectAsync(int port) => SmtpLineClient.ConnectAsync(port);
}
