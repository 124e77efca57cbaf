using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace Elemta.Plugins.Rspamd;

/// <summary>
/// Scans every message with rspamd over its HTTP protocol (<c>POST /checkv2</c> to the normal worker, the message as
/// the body, the envelope and the client in the <c>From</c>, <c>Rcpt</c>, <c>IP</c>, <c>Helo</c>, <c>Hostname</c>,
/// <c>User</c> and <c>Queue-Id</c> headers) and decides by rspamd's action and score: reject (<c>550 5.7.1</c> with
/// rspamd's message), defer (<c>451 4.7.1</c>), hold, or accept with <c>X-Spam: Yes</c>. Every scanned message gets
/// <c>X-Spam-Score</c> and <c>X-Spam-Status</c>. Settings: <c>Elemta:Plugins:Items:Rspamd:Settings</c>
/// (docs/plugins.md).
/// </summary>
/// <remarks>
/// rspamd unreachable, an HTTP error, a reply that is not rspamd's JSON or an answer later than <c>Timeout</c> throw:
/// the plugin host then applies the plugin's <c>FailurePolicy</c> (<c>FailOpen</c>: the message passes unscanned;
/// <c>FailClosed</c>: <c>451 4.3.0</c>), and logs and counts the failure.
/// </remarks>
public sealed class RspamdPlugin : IElemtaPlugin, IContentFilterHooks, IDisposable
{
    /// <summary>Header fields this plugin writes; a client's own fields of these names are removed so they cannot pose as the scan's.</summary>
    private static readonly string[] OwnHeaders = ["X-Spam", "X-Spam-Score", "X-Spam-Status"];

    private RspamdSettings _settings = null!;
    private TimeProvider _time = TimeProvider.System;
    private HttpClient? _http;

    /// <inheritdoc />
    public string Name => "Rspamd";

    /// <inheritdoc />
    public Version Version => new(1, 0, 0);

    /// <inheritdoc />
    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        _settings = RspamdSettings.Read(context.Settings);
        _time = context.TimeProvider;
        _http = new HttpClient(new SocketsHttpHandler
        {
            // rspamd is a local service: no proxy from the environment, no redirects, and connections recycled so a
            // moved rspamd (DNS) is found again.
            UseProxy = false,
            AllowAutoRedirect = false,
            PooledConnectionLifetime = TimeSpan.FromMinutes(2),
        })
        {
            // The plugin's own deadline (Timeout) governs, through the call's token.
            Timeout = System.Threading.Timeout.InfiniteTimeSpan,
        };
        return default;
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnFilterAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(session);
        ArgumentNullException.ThrowIfNull(message);
        var http = _http ?? throw new InvalidOperationException("The Rspamd plugin was not initialised.");

        using var deadline = new CancellationTokenSource(_settings.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        RspamdReply reply;
        try
        {
            using var request = await RequestAsync(session, message, linked.Token).ConfigureAwait(false);
            using var response = await http.SendAsync(request, HttpCompletionOption.ResponseContentRead, linked.Token).ConfigureAwait(false);
            var body = await response.Content.ReadAsByteArrayAsync(linked.Token).ConfigureAwait(false);
            if (!response.IsSuccessStatusCode)
            {
                throw new HttpRequestException(
                    $"rspamd at {_settings.CheckUri} answered {(int)response.StatusCode} {response.ReasonPhrase}: {Printable(Encoding.UTF8.GetString(body), 200)}",
                    null, response.StatusCode);
            }

            reply = RspamdReply.Parse(body, _settings.CheckUri);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Not an OperationCanceledException: the host would report that as its own budget exceeded.
            throw new IOException($"rspamd at {_settings.CheckUri} did not answer within {_settings.Timeout}.");
        }

        return Decide(reply, message);
    }

    private async Task<HttpRequestMessage> RequestAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, _settings.CheckUri)
        {
            // The buffer is valid during this call only, which the send does not outlive.
            Content = new ReadOnlyMemoryContent(message.Content),
        };
        var headers = request.Headers;
        if (message.Sender.Length > 0)
        {
            headers.TryAddWithoutValidation("From", message.Sender);
        }

        // HttpClient writes a repeated header as one line, the values joined by commas; rspamd reads that list as it
        // reads one Rcpt line per recipient (the tests check rspamd's own log).
        foreach (var recipient in message.Recipients)
        {
            headers.TryAddWithoutValidation("Rcpt", recipient);
        }

        var client = Unmapped(session.Client.Address);
        headers.TryAddWithoutValidation("IP", client.ToString());
        if (session.HeloName is { Length: > 0 } helo)
        {
            headers.TryAddWithoutValidation("Helo", helo);
        }

        if (_settings.ResolveHostname)
        {
            headers.TryAddWithoutValidation("Hostname", await ConfirmedHostNameAsync(client, cancellationToken).ConfigureAwait(false) ?? "unknown");
        }

        if (session.AuthenticatedUser is { Length: > 0 } user)
        {
            headers.TryAddWithoutValidation("User", user);
        }

        headers.TryAddWithoutValidation("Queue-Id", message.MessageId);
        return request;
    }

    private HookDecision Decide(RspamdReply reply, MessageContext message)
    {
        var byAction = _settings.Actions.TryGetValue(reply.Action, out var mapped) ? mapped : SpamResponse.Continue;
        var byScore = _settings.RejectScore is { } reject && reply.Score >= reject ? SpamResponse.Reject
            : _settings.HoldScore is { } hold && reply.Score >= hold ? SpamResponse.Hold
            : _settings.HeaderScore is { } header && reply.Score >= header ? SpamResponse.AddHeader
            : SpamResponse.Continue;
        // Thresholds can only make the outcome more severe; Actions:* makes rspamd's own action milder.
        var response = (SpamResponse)Math.Max((int)byAction, (int)byScore);

        foreach (var name in OwnHeaders)
        {
            message.RemoveHeader(name);
        }

        var spam = response is SpamResponse.AddHeader or SpamResponse.Hold or SpamResponse.Drop or SpamResponse.Reject;
        message.AddHeader("X-Spam-Score", reply.Score.ToString("0.00", CultureInfo.InvariantCulture));
        message.AddHeader("X-Spam-Status", string.Create(CultureInfo.InvariantCulture,
            $"{(spam ? "Yes" : "No")}, score={reply.Score:0.00}, required={reply.RequiredScore:0.00}, action=\"{Printable(reply.Action, 40)}\""));
        if (response is SpamResponse.AddHeader or SpamResponse.Hold)
        {
            message.AddHeader("X-Spam", "Yes");
        }

        var text = reply.SmtpMessage is { } m ? Printable(m, 200) : null;
        return response switch
        {
            SpamResponse.Reject => HookDecision.Reject(string.IsNullOrEmpty(text) ? "Spam message rejected" : text, 550, "5.7.1"),
            SpamResponse.Defer => HookDecision.Defer(string.IsNullOrEmpty(text) ? "Try again later" : text, 451, "4.7.1"),
            SpamResponse.Drop => HookDecision.Drop,
            SpamResponse.Hold => HookDecision.Hold(string.Create(CultureInfo.InvariantCulture, $"rspamd: score {reply.Score:0.00}, action {Printable(reply.Action, 40)}")),
            _ => HookDecision.Continue,
        };
    }

    /// <summary>The client's name by reverse DNS, when the name's addresses include the client's (forward-confirmed); otherwise null.</summary>
    private static async Task<string?> ConfirmedHostNameAsync(IPAddress address, CancellationToken cancellationToken)
    {
        try
        {
            var entry = await Dns.GetHostEntryAsync(address.ToString(), cancellationToken).ConfigureAwait(false);
            if (string.IsNullOrEmpty(entry.HostName) || IPAddress.TryParse(entry.HostName, out _))
            {
                return null;
            }

            var forward = await Dns.GetHostAddressesAsync(entry.HostName, cancellationToken).ConfigureAwait(false);
            return forward.Select(Unmapped).Contains(address) ? entry.HostName : null;
        }
        catch (SocketException)
        {
            return null;
        }
    }

    private static IPAddress Unmapped(IPAddress address) => address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address;

    /// <summary>One line of printable ASCII, for an SMTP reply or a header: rspamd's messages may hold anything.</summary>
    internal static string Printable(string text, int maxLength)
    {
        var builder = new StringBuilder(Math.Min(text.Length, maxLength));
        foreach (var c in text)
        {
            if (builder.Length == maxLength)
            {
                break;
            }

            builder.Append(c is >= ' ' and <= '~' ? c : ' ');
        }

        return builder.ToString().Trim();
    }

    /// <inheritdoc />
    public void Dispose() => _http?.Dispose();

    /// <summary>The parts of rspamd's <c>/checkv2</c> reply the decision needs.</summary>
    private sealed record RspamdReply(string Action, double Score, double RequiredScore, string? SmtpMessage)
    {
        public static RspamdReply Parse(byte[] body, Uri from)
        {
            try
            {
                using var json = JsonDocument.Parse(body);
                var root = json.RootElement;
                if (root.ValueKind != JsonValueKind.Object
                    || !root.TryGetProperty("action", out var action) || action.ValueKind != JsonValueKind.String
                    || !root.TryGetProperty("score", out var score) || score.ValueKind != JsonValueKind.Number)
                {
                    throw new InvalidDataException($"rspamd at {from} answered JSON without an action and a score: {Printable(Encoding.UTF8.GetString(body), 200)}");
                }

                var required = root.TryGetProperty("required_score", out var r) && r.ValueKind == JsonValueKind.Number ? r.GetDouble() : 0;
                string? message = null;
                if (root.TryGetProperty("messages", out var messages) && messages.ValueKind == JsonValueKind.Object
                    && messages.TryGetProperty("smtp_message", out var smtp) && smtp.ValueKind == JsonValueKind.String)
                {
                    message = smtp.GetString();
                }

                return new RspamdReply(action.GetString()!, score.GetDouble(), required, message);
            }
            catch (JsonException ex)
            {
                throw new InvalidDataException($"rspamd at {from} answered something that is not JSON ({ex.Message}): {Printable(Encoding.UTF8.GetString(body), 200)}", ex);
            }
        }
    }
}
