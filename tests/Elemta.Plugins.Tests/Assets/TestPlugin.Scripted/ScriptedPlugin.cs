using System.Collections.Concurrent;
using System.Runtime.Loader;
using Elemta.Plugins;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;

namespace TestPlugin.Scripted;

/// <summary>
/// A plugin whose behaviour the test configures. Its name is its folder's name (from the host's load-context name), so
/// one build serves as many plugins as the test makes folders; its dependencies come from the AppContext datum
/// "TestPlugin.Dependencies:&lt;name&gt;". Every hook call is recorded as "name:hook:data" in the
/// ConcurrentQueue&lt;string&gt; the test put in AppContext under the setting "Sink"; what each hook decides is the
/// setting of the hook's name (continue, accept, reject, defer, drop, hold, reroute to the setting "RerouteTo", throw, hang, gate); the
/// setting "LogOnInit" is a line it logs through its context's logger when loaded. In another process (a
/// silo the test started) the calls are appended to the file named by the setting "SinkFile" instead.
/// </summary>
public sealed class ScriptedPlugin : IElemtaPlugin, IConnectionHooks, ISmtpCommandHooks, IMailTransactionHooks, IMessageHooks, IContentFilterHooks,
    ISecurityHooks, IAuthenticationHooks, IQueueHooks, IDeliveryHooks, IErrorHooks, IMetricsHooks
{
    private static readonly Lock FileLock = new();
    private System.Diagnostics.Metrics.Counter<long>? _messages;
    private readonly string _instance = Guid.NewGuid().ToString("N")[..8];
    private IConfiguration? _settings;

    public string Name { get; } = (AssemblyLoadContext.GetLoadContext(typeof(ScriptedPlugin).Assembly)?.Name ?? "plugin:scripted")["plugin:".Length..];

    public Version Version => new(1, 0);

    public IReadOnlyList<string> Dependencies =>
        AppContext.GetData("TestPlugin.Dependencies:" + Name) is string deps ? deps.Split(',', StringSplitOptions.RemoveEmptyEntries) : [];

    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken)
    {
        _settings = context.Settings;
        if (Setting("LogOnInit") is { } line)
        {
            context.Logger.LogWarning("{Line}", line);
        }

        Record("init", _instance);
        return default;
    }

    public ValueTask<HookDecision> OnConnectAsync(SessionInfo session, CancellationToken cancellationToken) =>
        Decide("connect", session.Client.Address.ToString(), cancellationToken);

    public ValueTask OnDisconnectAsync(SessionInfo session, CancellationToken cancellationToken)
    {
        Record("disconnect", session.HeloName ?? string.Empty);
        return default;
    }

    public ValueTask<HookDecision> OnHeloAsync(SessionInfo session, CancellationToken cancellationToken) =>
        Decide("helo", $"{session.HeloName}:{(session.IsExtended ? "EHLO" : "HELO")}", cancellationToken);

    public ValueTask<HookDecision> OnAuthAsync(SessionInfo session, AuthAttempt attempt, CancellationToken cancellationToken) =>
        Decide("auth", $"{attempt.Mechanism}:{attempt.UserName}:{attempt.Succeeded}", cancellationToken);

    public ValueTask<HookDecision> OnAuthRequestAsync(SessionInfo session, AuthRequest request, CancellationToken cancellationToken) =>
        Decide("auth-request", $"{request.Mechanism}:{request.UserName}", cancellationToken);

    public ValueTask<HookDecision> OnStartTlsAsync(SessionInfo session, CancellationToken cancellationToken) =>
        Decide("starttls", session.IsTls.ToString(), cancellationToken);

    public ValueTask<HookDecision> OnMailFromAsync(SessionInfo session, MailTransaction transaction, CancellationToken cancellationToken) =>
        Decide("mail", transaction.Sender, cancellationToken);

    public ValueTask<HookDecision> OnRcptToAsync(SessionInfo session, MailTransaction transaction, string recipient, CancellationToken cancellationToken) =>
        Decide("rcpt", recipient, cancellationToken, only: Setting("RejectRecipient") is not { } rejected || rejected == recipient);

    public ValueTask<HookDecision> OnDataAsync(SessionInfo session, MailTransaction transaction, CancellationToken cancellationToken) =>
        Decide("data", $"{transaction.Sender}>{string.Join(',', transaction.Recipients)}", cancellationToken);

    public ValueTask<HookDecision> OnMessageAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        var subject = message.Headers.FirstOrDefault(h => h.Name.Equals("Subject", StringComparison.OrdinalIgnoreCase))?.Value;
        if (Setting("AddHeader") is { } header)
        {
            message.AddHeader(header, $"{Name} {_instance}");
        }

        if (Setting("RemoveHeader") is { } removed)
        {
            message.RemoveHeader(removed);
        }

        if (Setting("AuthResult") is { } result && result.Split('=') is [var method, var outcome])
        {
            message.AuthenticationResults.Add(new AuthenticationResult(method, outcome, Name));
        }

        _messages?.Add(1);
        if (Setting("RewriteRecipient") is { } rewrite && rewrite.Split('>') is [var from, var to] && message.Recipients.IndexOf(from) is var at and >= 0)
        {
            message.Recipients[at] = to;
        }

        return Decide("message", $"{subject}:{message.Sender}>{string.Join(',', message.Recipients)}", cancellationToken);
    }

    public ValueTask<HookDecision> OnFilterAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken) =>
        Decide("filter", message.MessageId, cancellationToken);

    public ValueTask<HookDecision> OnSecurityCheckAsync(SessionInfo session, MailTransaction transaction, string recipient, CancellationToken cancellationToken) =>
        Decide("security", $"{session.Client.Address}:{transaction.Sender}>{recipient}", cancellationToken);

    public ValueTask<HookDecision> OnAuthenticationResultsAsync(SessionInfo session, MessageContext message, IReadOnlyList<AuthenticationResult> results, CancellationToken cancellationToken) =>
        Decide("authentication", string.Join(',', results.Select(r => $"{r.Method}={r.Result}")), cancellationToken);

    public ValueTask OnEnqueuedAsync(QueuedMessage message, CancellationToken cancellationToken)
    {
        Record("enqueue", $"{message.MessageId}:{string.Join(',', message.Recipients)}");
        return default;
    }

    public ValueTask OnDequeuedAsync(QueuedMessage message, CancellationToken cancellationToken)
    {
        Record("dequeue", $"{message.MessageId}:{string.Join(',', message.Recipients)}");
        return default;
    }

    public ValueTask OnRetryAsync(QueuedMessage message, DateTimeOffset nextAttempt, CancellationToken cancellationToken)
    {
        Record("retry", $"{message.MessageId}:{string.Join(',', message.Recipients)}");
        return default;
    }

    public ValueTask<HookDecision> OnBeforeDeliveryAsync(QueuedMessage message, string recipient, CancellationToken cancellationToken) =>
        Decide("before-delivery", recipient, cancellationToken, only: Setting("RefuseDeliveryTo") is not { } refused || refused == recipient);

    public ValueTask OnDeliveryResultAsync(QueuedMessage message, DeliveryResult result, CancellationToken cancellationToken)
    {
        Record("delivery-result", $"{result.Recipient}:{result.Succeeded}");
        return default;
    }

    public ValueTask OnDeliveryAttemptAsync(QueuedMessage message, DeliveryAttemptInfo attempt, CancellationToken cancellationToken)
    {
        Record("delivery-attempt", $"{string.Join(',', message.Recipients)}:{attempt.Results.Count}");
        return default;
    }

    public ValueTask OnErrorAsync(ServerError error, CancellationToken cancellationToken)
    {
        Record("error", $"{error.Stage}:{error.Recovered}:{error.Message}");
        return default;
    }

    public void CreateInstruments(System.Diagnostics.Metrics.Meter meter) =>
        _messages = meter.CreateCounter<long>("scripted.messages", "{message}", "Messages the scripted plugin saw.");

    private string? Setting(string key) => _settings?[key];

    private void Record(string hook, string data)
    {
        if (_settings?["Sink"] is { } sink && AppContext.GetData(sink) is ConcurrentQueue<string> queue)
        {
            queue.Enqueue($"{Name}:{hook}:{data}");
        }

        if (_settings?["SinkFile"] is { } file)
        {
            lock (FileLock)
            {
                File.AppendAllText(file, $"{Name}:{hook}:{data}\n");
            }
        }
    }

    private async ValueTask<HookDecision> Decide(string hook, string data, CancellationToken cancellationToken, bool only = true)
    {
        Record(hook, data);
        switch (only ? Setting(hook) : null)
        {
            case "accept":
                return HookDecision.Accept;
            case "reject":
                return HookDecision.Reject($"{Name} refuses {hook}", 554, "5.7.1");
            case "defer":
                return HookDecision.Defer($"{Name} defers {hook}", 450, "4.7.1");
            case "drop":
                return HookDecision.Drop;
            case "hold":
                return HookDecision.Hold($"{Name} holds");
            case "reroute":
                return HookDecision.Reroute(Setting("RerouteTo") ?? "unset");
            case "throw":
                throw new InvalidOperationException($"{Name} fails at {hook}");
            case "hang":
                // Ignores its token, as a plugin stuck in a blocking call would: only the host's budget ends the wait.
                await Task.Delay(Timeout.InfiniteTimeSpan, CancellationToken.None).ConfigureAwait(false);
                return HookDecision.Continue;
            case "gate":
                // Waits for the test to open the gate (a TaskCompletionSource in AppContext under the setting "Gate").
                if (Setting("Gate") is { } gate && AppContext.GetData(gate) is TaskCompletionSource open)
                {
                    await open.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
                }

                return HookDecision.Continue;
            default:
                return HookDecision.Continue;
        }
    }
}
