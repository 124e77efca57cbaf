using System.Net;
using System.Net.Sockets;
using System.Text;
using Elemta.Plugins.Tests;
using Elemta.Smtp.Tests;
using Elemta.Testing;

namespace Elemta.Plugins.Scanners.Tests;

/// <summary>
/// A scanner that is down or answers nonsense: the plugin throws, and the plugin host applies the plugin's failure
/// policy (<c>FailOpen</c>: the message passes unscanned; <c>FailClosed</c>: <c>451 4.3.0</c>).
/// </summary>
public sealed class ScannerFailureTests
{
    private static async Task AssertPolicyAppliedAsync(SmtpTestServer server, string plugin, string policy, string exceptionType, string reason)
    {
        var reply = await ScannerMail.SendAsync(server, ScannerMail.Message("scanner down", "Hello"));

        if (policy == "FailOpen")
        {
            reply.AssertIs(250);
            Assert.DoesNotContain("X-Spam", ScannerMail.Stored(server), StringComparison.Ordinal);
            Assert.DoesNotContain("X-Virus", ScannerMail.Stored(server), StringComparison.Ordinal);
        }
        else
        {
            reply.AssertIs(451, "4.3.0");
            Assert.Empty(server.Acceptor.Messages);
        }

        var logged = Assert.Single(server.Logs, l => l.Message.StartsWith($"Plugin {plugin} hook filter threw", StringComparison.Ordinal));
        Assert.Contains(exceptionType, logged.Message, StringComparison.Ordinal);
        Assert.Contains(reason, logged.Message, StringComparison.Ordinal);
        Assert.EndsWith($"{policy} applied", logged.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("FailOpen")]
    [InlineData("FailClosed")]
    public async Task Rspamd_down_applies_the_failure_policy(string policy)
    {
        using var refusing = RefusingEndPoint.Bind(IPAddress.Loopback);
        using var folder = new PluginFolder();
        await using var server = await ScannerMail.StartAsync(folder, "Elemta.Plugins.Rspamd", new Dictionary<string, string?>
        {
            ["Rspamd:FailurePolicy"] = policy,
            ["Rspamd:Settings:Url"] = $"http://127.0.0.1:{RefusingEndPoint.PortOf(refusing)}",
        });

        await AssertPolicyAppliedAsync(server, "Rspamd", policy, "HttpRequestException", "Connection refused");
    }

    [Theory]
    [InlineData("FailOpen")]
    [InlineData("FailClosed")]
    public async Task Rspamd_answering_something_that_is_not_JSON_applies_the_failure_policy(string policy)
    {
        await using var responder = OneReplyHttpServer.Start("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 14\r\nConnection: close\r\n\r\nnot rspamd {{{");
        using var folder = new PluginFolder();
        await using var server = await ScannerMail.StartAsync(folder, "Elemta.Plugins.Rspamd", new Dictionary<string, string?>
        {
            ["Rspamd:FailurePolicy"] = policy,
            ["Rspamd:Settings:Url"] = responder.Url,
        });

        await AssertPolicyAppliedAsync(server, "Rspamd", policy, "InvalidDataException", "answered something that is not JSON");
    }

    [Fact]
    public async Task Rspamd_answering_an_HTTP_error_fails_closed_with_rspamds_error_in_the_log()
    {
        const string Error = "{\"error\":\"message has no body\"}";
        await using var responder = OneReplyHttpServer.Start($"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {Error.Length}\r\nConnection: close\r\n\r\n{Error}");
        using var folder = new PluginFolder();
        await using var server = await ScannerMail.StartAsync(folder, "Elemta.Plugins.Rspamd", new Dictionary<string, string?>
        {
            ["Rspamd:FailurePolicy"] = "FailClosed",
            ["Rspamd:Settings:Url"] = responder.Url,
        });

        await AssertPolicyAppliedAsync(server, "Rspamd", "FailClosed", "HttpRequestException", "answered 400 Bad Request: {\"error\":\"message has no body\"}");
    }

    [Fact]
    public async Task Rspamd_not_answering_within_its_Timeout_fails_closed_as_the_plugins_own_error()
    {
        await using var responder = OneReplyHttpServer.Start(reply: null);
        using var folder = new PluginFolder();
        await using var server = await ScannerMail.StartAsync(folder, "Elemta.Plugins.Rspamd", new Dictionary<string, string?>
        {
            ["Rspamd:FailurePolicy"] = "FailClosed",
            ["Rspamd:Settings:Url"] = responder.Url,
            ["Rspamd:Settings:Timeout"] = "00:00:00.5",
        });

        await AssertPolicyAppliedAsync(server, "Rspamd", "FailClosed", "IOException", "did not answer within 00:00:00.5");
    }

    [Theory]
    [InlineData("FailOpen", "tcp")]
    [InlineData("FailClosed", "tcp")]
    [InlineData("FailOpen", "unix")]
    [InlineData("FailClosed", "unix")]
    public async Task Clamd_down_applies_the_failure_policy(string policy, string transport)
    {
        using var refusing = RefusingEndPoint.Bind(IPAddress.Loopback);
        using var folder = new PluginFolder();
        var address = transport == "tcp" ? $"127.0.0.1:{RefusingEndPoint.PortOf(refusing)}" : Path.Combine(folder.Path, "no-clamd.sock");
        await using var server = await ScannerMail.StartAsync(folder, "Elemta.Plugins.ClamAv", new Dictionary<string, string?>
        {
            ["ClamAV:FailurePolicy"] = policy,
            ["ClamAV:Settings:Address"] = address,
        });

        await AssertPolicyAppliedAsync(server, "ClamAV", policy, "IOException", $"clamd at {address} is not reachable");
    }

    /// <summary>
    /// An HTTP server on loopback that reads one request and answers it with a fixed response, or never answers
    /// (<c>reply: null</c>), standing in for an rspamd that misbehaves.
    /// </summary>
    private sealed class OneReplyHttpServer : IAsyncDisposable
    {
        private readonly TcpListener _listener;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _serving;

        private OneReplyHttpServer(TcpListener listener, string? reply)
        {
            _listener = listener;
            _serving = ServeAsync(reply);
        }

        public string Url => $"http://127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public static OneReplyHttpServer Start(string? reply)
        {
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            return new OneReplyHttpServer(listener, reply);
        }

        private async Task ServeAsync(string? reply)
        {
            try
            {
                while (true)
                {
                    var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                    _ = AnswerAsync(client, reply);
                }
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
            {
            }
        }

        private async Task AnswerAsync(TcpClient client, string? reply)
        {
            using (client)
            {
                try
                {
                    var stream = client.GetStream();
                    var buffer = new byte[64 * 1024];
                    var received = new StringBuilder();
                    // The request's header section, then as many body bytes as it announced.
                    while (!received.ToString().Contains("\r\n\r\n", StringComparison.Ordinal))
                    {
                        var read = await stream.ReadAsync(buffer, _stop.Token);
                        if (read == 0)
                        {
                            return;
                        }

                        received.Append(Encoding.Latin1.GetString(buffer, 0, read));
                    }

                    var text = received.ToString();
                    var headerEnd = text.IndexOf("\r\n\r\n", StringComparison.Ordinal) + 4;
                    var length = text.Split("\r\n").Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                        .Select(l => int.Parse(l["Content-Length:".Length..].Trim(), System.Globalization.CultureInfo.InvariantCulture)).FirstOrDefault();
                    var remaining = length - (text.Length - headerEnd);
                    while (remaining > 0)
                    {
                        var read = await stream.ReadAsync(buffer, _stop.Token);
                        if (read == 0)
                        {
                            return;
                        }

                        remaining -= read;
                    }

                    if (reply is null)
                    {
                        // Never answer: hold the connection until the test ends.
                        await Task.Delay(Timeout.Infinite, _stop.Token);
                    }

                    await stream.WriteAsync(Encoding.ASCII.GetBytes(reply!), _stop.Token);
                }
                catch (Exception ex) when (ex is OperationCanceledException or IOException)
                {
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _listener.Stop();
            await _serving;
            _stop.Dispose();
        }
    }
}
