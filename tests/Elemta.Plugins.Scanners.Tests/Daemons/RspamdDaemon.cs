using System.Globalization;
using Elemta.Plugins.Tests;
using Elemta.Testing;

namespace Elemta.Plugins.Scanners.Tests.Daemons;

/// <summary>
/// A real rspamd (Debian's package) for one test class: a minimal configuration of its own in a temporary folder
/// (no Redis, no network, no modules), one normal worker on a free loopback port, the GTUBE-like test patterns on,
/// and a few Lua rules the tests use. Started by <see cref="InitializeAsync"/>, killed by <see cref="Dispose"/>.
/// </summary>
/// <remarks>
/// The actions' thresholds: <c>greylist</c> 4, <c>add_header</c> 6, <c>rewrite_subject</c> 8, <c>reject</c> 15. With
/// <c>enable_test_patterns</c>, rspamd answers <see cref="Gtube"/> with <c>reject</c> (score 15),
/// <see cref="GtubeAddHeader"/> with <c>add header</c> (score 6) and <see cref="GtubeRewriteSubject"/> with
/// <c>rewrite subject</c> (score 8). The Lua rules: a subject containing <see cref="SoftRejectSubject"/> gets
/// <c>soft reject</c> with the message "Try again later (test)"; every message gets the symbol
/// <c>ELEMTA_TEST_ENVELOPE</c> with the HELO and host name rspamd was given as options, which rspamd's log shows.
/// </remarks>
public sealed class RspamdDaemon : IAsyncLifetime, IDisposable
{
    // Assembled at run time so this source and its assembly do not carry the patterns whole (spam filters on the
    // way of a patch would act on them).
    private const string GtubeTail = "JS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X";

    /// <summary>The GTUBE string: rspamd's action <c>reject</c>, message "Gtube pattern".</summary>
    public static readonly string Gtube = "X" + GtubeTail;

    /// <summary>rspamd's test pattern for the action <c>add header</c>.</summary>
    public static readonly string GtubeAddHeader = "Y" + GtubeTail;

    /// <summary>rspamd's test pattern for the action <c>rewrite subject</c>.</summary>
    public static readonly string GtubeRewriteSubject = "Z" + GtubeTail;

    /// <summary>A subject containing this gets <c>soft reject</c> from the test rule.</summary>
    public const string SoftRejectSubject = "elemta-soft-reject";

    private DaemonProcess? _process;

    public string Directory { get; } = System.IO.Directory.CreateTempSubdirectory("elemta-rspamd-").FullName;

    public int Port { get; } = FreePort.GetTcpPort();

    /// <summary>The normal worker, for the plugin's <c>Url</c> setting.</summary>
    public string Url => $"http://127.0.0.1:{Port.ToString(CultureInfo.InvariantCulture)}";

    private string LogPath => Path.Combine(Directory, "rspamd.log");

    public async Task InitializeAsync()
    {
        var rules = Path.Combine(Directory, "rules.lua");
        await File.WriteAllTextAsync(rules, """
            rspamd_config:register_symbol({
              name = 'ELEMTA_TEST_SOFT_REJECT',
              type = 'prefilter',
              priority = 10,
              callback = function(task)
                local subject = task:get_subject() or ''
                if subject:find('elemta-soft-reject', 1, true) then
                  task:set_pre_result('soft reject', 'Try again later (test)')
                end
              end,
            })

            rspamd_config:register_symbol({
              name = 'ELEMTA_TEST_ENVELOPE',
              score = 0.0,
              callback = function(task)
                return true, 1.0, 'helo=' .. (task:get_helo() or ''), 'hostname=' .. (task:get_hostname() or '')
              end,
            })
            """);
        var configuration = Path.Combine(Directory, "rspamd.conf");
        // The resolver points at a closed port: nothing leaves the machine, and no rule waits for DNS.
        await File.WriteAllTextAsync(configuration, $$"""
            options {
              pidfile = "{{Directory}}/rspamd.pid";
              dbdir = "{{Directory}}";
              filters = "";
              enable_test_patterns = true;
              dns {
                nameserver = ["127.0.0.1:1"];
                timeout = 1s;
                retransmits = 1;
              }
            }
            logging {
              type = "file";
              filename = "{{LogPath}}";
              level = "info";
            }
            actions {
              reject = 15;
              rewrite_subject = 8;
              add_header = 6;
              greylist = 4;
            }
            worker "normal" {
              bind_socket = "127.0.0.1:{{Port}}";
              count = 1;
            }
            lua = "{{rules}}";
            """);

        _process = DaemonProcess.Start("/usr/bin/rspamd", "rspamd", ["-f", "-c", configuration], Directory, "_rspamd");
        using var http = new HttpClient(new SocketsHttpHandler { UseProxy = false }) { Timeout = TimeSpan.FromSeconds(2) };
        // Loading the Lua libraries takes seconds on a busy machine, more on the first start.
        await _process.WaitUntilReadyAsync(async () =>
        {
            try
            {
                return (await http.GetStringAsync(new Uri(Url + "/ping"))).Trim() == "pong";
            }
            catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException)
            {
                return false;
            }
        }, TimeSpan.FromSeconds(90), "rspamd", ReadLog);
    }

    /// <summary>rspamd's log so far (one line per scanned message, with its queue id, client, envelope and symbols).</summary>
    public string ReadLog()
    {
        try
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            using var reader = new StreamReader(stream);
            return reader.ReadToEnd();
        }
        catch (IOException)
        {
            return string.Empty;
        }
    }

    /// <summary>The log line of the message with queue id <paramref name="queueId"/>, once rspamd has written it.</summary>
    public async Task<string> LogLineOfAsync(string queueId)
    {
        string? line = null;
        await PluginFolder.WaitUntilAsync(() =>
        {
            line = ReadLog().Split('\n').FirstOrDefault(l => l.Contains("rspamd_task_write_log", StringComparison.Ordinal)
                && l.Contains($"qid: <{queueId}>", StringComparison.Ordinal));
            return line is not null;
        }, $"rspamd's log line of {queueId}");
        return line!;
    }

    public Task DisposeAsync()
    {
        Dispose();
        return Task.CompletedTask;
    }

    public void Dispose()
    {
        _process?.Dispose();
        _process = null;
        DaemonProcess.DeleteDirectory(Directory);
    }
}
