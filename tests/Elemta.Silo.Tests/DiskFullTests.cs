using System.Diagnostics;
using System.Text;
using Elemta.Testing;
using Xunit.Abstractions;

namespace Elemta.Silo.Tests;

/// <summary>
/// The data directory on a small tmpfs that the test fills (issue 15's disk-full fault): once free space falls below
/// Elemta:Storage:MinFreeSpace the silo refuses new transactions at MAIL FROM and at the end of DATA with
/// <c>452 4.3.1</c>; when the disk really fills under a write, the client gets <c>452 4.3.1</c> and nothing partial is
/// queued; when space returns, mail is accepted and delivered again without a restart. Mounting needs root (CI runs
/// as root); elsewhere these tests are skipped with that reason.
/// </summary>
public sealed class DiskFullTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(90);
    private const long MiB = 1024 * 1024;

    [RootFact]
    public async Task Below_the_reserve_MAIL_FROM_and_the_end_of_DATA_get_452_4_3_1_and_mail_flows_again_once_space_returns()
    {
        await using var disk = await TmpfsMount.CreateAsync(48 * MiB);
        await using var sink = SmtpSink.Start();
        await using var silo = await SiloProcess.StartAsync(Path.Combine(disk.Path, "data"), Settings(sink, minFree: 16 * MiB));

        Assert.Equal("250", await SendAsync(silo.SmtpPort, "before", 1024));
        // A declared SIZE= that would not fit above the reserve is refused before the content is sent (RFC 1870 §6.1).
        using (var sized = await SmtpLineClient.ConnectAsync(silo.SmtpPort, ehlo: true))
        {
            Assert.StartsWith("452 4.3.1", await sized.CommandAsync($"MAIL FROM:<sender@example.org> SIZE={40 * MiB}"), StringComparison.Ordinal);
        }

        // A transaction that got past MAIL FROM while there was room ...
        using var open = await SmtpLineClient.ConnectAsync(silo.SmtpPort, ehlo: true);
        Assert.StartsWith("250", await open.CommandAsync("MAIL FROM:<sender@example.org>"), StringComparison.Ordinal);
        Assert.StartsWith("250", await open.CommandAsync("RCPT TO:<rcpt@example.net>"), StringComparison.Ordinal);

        // ... then the disk fills to below the reserve: new transactions are refused before any content is sent.
        var filler = disk.Fill(leaveFree: 8 * MiB);
        var refused = await Eventually.GetAsync(() => MailFromAsync(silo.SmtpPort), r => r.StartsWith("452", StringComparison.Ordinal), Timeout, "MAIL FROM refused below the reserve");
        Assert.StartsWith("452 4.3.1", refused, StringComparison.Ordinal);
        // The open transaction's content arrives, and is refused at its end: nothing is written.
        Assert.StartsWith("354", await open.CommandAsync("DATA"), StringComparison.Ordinal);
        var end = await open.SendDataAsync("Subject: during\r\n\r\n" + new string('x', 2000) + "\r\n");
        Assert.StartsWith("452 4.3.1", end, StringComparison.Ordinal);

        // Space returns: accepted again without a restart, and only the acknowledged messages are delivered.
        File.Delete(filler);
        await Eventually.GetAsync(() => MailFromAsync(silo.SmtpPort), r => r.StartsWith("250", StringComparison.Ordinal), Timeout, "MAIL FROM accepted once space returned");
        Assert.Equal("250", await SendAsync(silo.SmtpPort, "after", 1024));
        await sink.WaitForCountAsync(2, Timeout);
        Assert.Equal(["after", "before"], sink.Messages.Select(m => Subject(m.Data)).Order());
        Assert.False(silo.HasExited);
    }

    [RootFact]
    public async Task A_disk_that_fills_under_the_write_gets_452_4_3_1_nothing_partial_is_queued_and_mail_flows_again_once_space_returns()
    {
        await using var disk = await TmpfsMount.CreateAsync(48 * MiB);
        await using var sink = SmtpSink.Start();
        // No reserve: the write itself meets the full disk (SQLITE_FULL).
        await using var silo = await SiloProcess.StartAsync(Path.Combine(disk.Path, "data"), Settings(sink, minFree: 0));

        Assert.Equal("250", await SendAsync(silo.SmtpPort, "before", 1024));
        await sink.WaitForCountAsync(1, Timeout);

        var filler = disk.Fill(leaveFree: 1 * MiB);
        var codes = new List<string>();
        for (var i = 0; i < 3; i++)
        {
            codes.Add(await SendAsync(silo.SmtpPort, $"full-{i}", (int)(4 * MiB)));
        }

        output.WriteLine($"replies on the full disk: {string.Join(", ", codes)}");
        Assert.All(codes, c => Assert.Equal("452", c));

        File.Delete(filler);
        var after = await Eventually.GetAsync(() => SendAsync(silo.SmtpPort, "after", 64 * 1024), c => c == "250", Timeout, "a 250 once space returned");
        Assert.Equal("250", after);
        await sink.WaitForCountAsync(2, Timeout);
        Assert.Equal(["after", "before"], sink.Messages.Select(m => Subject(m.Data)).Order());
        Assert.False(silo.HasExited);
    }

    private static Dictionary<string, string> Settings(SmtpSink sink, long minFree) => new()
    {
        ["Elemta:Storage:MinFreeSpace"] = minFree.ToString(System.Globalization.CultureInfo.InvariantCulture),
        ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
        ["Elemta:Queue:RetrySchedule:0"] = "00:00:02",
        ["Elemta:Smtp:MaxMessageSize"] = (100 * MiB).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    private static async Task<string> MailFromAsync(int port)
    {
        using var smtp = await SmtpLineClient.ConnectAsync(port, ehlo: true);
        return await smtp.CommandAsync("MAIL FROM:<probe@example.org> SIZE=1000");
    }

    /// <summary>One message of about <paramref name="size"/> octets on its own connection; the reply code that ended it.</summary>
    private static async Task<string> SendAsync(int port, string subject, int size)
    {
        using var smtp = await SmtpLineClient.ConnectAsync(port, ehlo: true);
        foreach (var command in new[] { "MAIL FROM:<sender@example.org>", "RCPT TO:<rcpt@example.net>", "DATA" })
        {
            var reply = await smtp.CommandAsync(command);
            if (reply[0] is not ('2' or '3'))
            {
                return reply[..3];
            }
        }

        var body = new StringBuilder($"Subject: {subject}\r\n\r\n");
        while (body.Length < size)
        {
            body.Append(new string('b', 76)).Append("\r\n");
        }

        return (await smtp.SendDataAsync(body.ToString()))[..3];
    }

    private static string Subject(byte[] data)
    {
        var text = Encoding.ASCII.GetString(data);
        var start = text.IndexOf("Subject: ", StringComparison.Ordinal) + 9;
        return text[start..text.IndexOf('\r', start)];
    }

    /// <summary>A tmpfs of a fixed size on a fresh temporary directory, unmounted at the end.</summary>
    private sealed class TmpfsMount : IAsyncDisposable
    {
        private TmpfsMount(string path) => Path = path;

        public string Path { get; }

        public static async Task<TmpfsMount> CreateAsync(long size)
        {
            var path = Directory.CreateTempSubdirectory("elemta-diskfull-").FullName;
            await RunAsync("mount", "-t", "tmpfs", "-o", $"size={size}", "elemta-diskfull", path);
            return new TmpfsMount(path);
        }

        /// <summary>Writes a file that leaves about <paramref name="leaveFree"/> octets free; returns its path.</summary>
        public string Fill(long leaveFree)
        {
            var filler = System.IO.Path.Combine(Path, "filler");
            var buffer = new byte[MiB];
            using var stream = new FileStream(filler, FileMode.Create, FileAccess.Write);
            // Written, not sized: tmpfs counts pages that hold data, and a sparse file holds none.
            var toWrite = new DriveInfo(Path).AvailableFreeSpace - leaveFree;
            for (long written = 0; written < toWrite; written += buffer.Length)
            {
                stream.Write(buffer, 0, (int)Math.Min(buffer.Length, toWrite - written));
            }

            return filler;
        }

        public async ValueTask DisposeAsync()
        {
            await RunAsync("umount", "-l", Path);
            Directory.Delete(Path, recursive: true);
        }

        private static async Task RunAsync(string program, params string[] arguments)
        {
            using var process = Process.Start(new ProcessStartInfo(program, arguments) { RedirectStandardError = true })!;
            var error = await process.StandardError.ReadToEndAsync();
            await process.WaitForExitAsync();
            Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)}: {error}");
        }
    }
}

/// <summary>A fact that needs root (mounting a file system); skipped, with that reason, for other users.</summary>
[AttributeUsage(AttributeTargets.Method)]
public sealed class RootFactAttribute : FactAttribute
{
    /// <summary>Sets <see cref="FactAttribute.Skip"/> unless the tests run as root.</summary>
    public RootFactAttribute()
    {
        if (!string.Equals(Environment.UserName, "root", StringComparison.Ordinal))
        {
            Skip = "needs root to mount a tmpfs (tests/run.sh runs as root in CI)";
        }
    }
}
