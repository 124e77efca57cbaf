using System.Text;

namespace Elemta.Plugins.ClamAv;

/// <summary>
/// Scans every message with ClamAV's daemon, clamd, over its <c>INSTREAM</c> protocol on a TCP or Unix socket. A virus
/// rejects the message with <c>554 5.7.1</c> naming it (or holds it, <c>VirusAction=Hold</c>); a clean message gets
/// <c>X-Virus-Scanned: ClamAV</c> and <c>X-Virus-Status: Clean</c>. A message over clamd's <c>StreamMaxLength</c> is
/// deferred or passed unscanned (<c>SizeLimitAction</c>). Settings: <c>Elemta:Plugins:Items:ClamAV:Settings</c>
/// (docs/plugins.md).
/// </summary>
/// <remarks>
/// clamd unreachable, a broken connection, an <c>ERROR</c> reply or an answer later than <c>Timeout</c> throw: the plugin
/// host then applies the plugin's <c>FailurePolicy</c> (<c>FailOpen</c>: the message passes unscanned;
/// <c>FailClosed</c>: <c>451 4.3.0</c>), and logs and counts the failure.
/// </remarks>
public sealed class ClamAvPlugin : IElemtaPlugin, IContentFilterHooks
{
    /// <summary>Header fields this plugin writes; a client's own fields of these names are removed so they cannot pose as the scan's.</summary>
    private static readonly string[] OwnHeaders = ["X-Virus-Scanned", "X-Virus-Status"];

    private ClamAvSettings _settings = null!;
    private TimeProvider _time = TimeProvider.System;

    /// <inheritdoc />
    public string Name => "ClamAV";

    /// <inheritdoc />
    public Version Version => new(1, 0, 0);

    /// <inheritdoc />
    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        _settings = ClamAvSettings.Read(context.Settings);
        _time = context.TimeProvider;
        return default;
    }

    /// <inheritdoc />
    public async ValueTask<HookDecision> OnFilterAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        var settings = _settings ?? throw new InvalidOperationException("The ClamAV plugin was not initialised.");

        using var deadline = new CancellationTokenSource(settings.Timeout, _time);
        using var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, deadline.Token);
        ClamdVerdict verdict;
        try
        {
            verdict = await ClamdClient.ScanAsync(settings.EndPoint, settings.Address, message.Content, linked.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (deadline.IsCancellationRequested && !cancellationToken.IsCancellationRequested)
        {
            // Not an OperationCanceledException: the host would report that as its own budget exceeded.
            throw new IOException($"clamd at {settings.Address} did not answer within {settings.Timeout}.");
        }

        foreach (var name in OwnHeaders)
        {
            message.RemoveHeader(name);
        }

        switch (verdict.Kind)
        {
            case ClamdVerdictKind.Infected:
                var virus = Printable(verdict.Virus ?? "unknown", 120);
                if (settings.VirusAction == VirusResponse.Hold)
                {
                    message.AddHeader("X-Virus-Scanned", "ClamAV");
                    message.AddHeader("X-Virus-Status", $"Infected ({virus})");
                    return HookDecision.Hold($"ClamAV found {virus}");
                }

                return HookDecision.Reject($"Message rejected: virus {virus} found", 554, "5.7.1");
            case ClamdVerdictKind.SizeLimitExceeded:
                if (settings.SizeLimitAction == SizeLimitResponse.Defer)
                {
                    return HookDecision.Defer("Message too large for the virus scanner, try again later", 451, "4.7.1");
                }

                message.AddHeader("X-Virus-Status", "Unscanned, larger than clamd's StreamMaxLength");
                return HookDecision.Continue;
            default:
                message.AddHeader("X-Virus-Scanned", "ClamAV");
                message.AddHeader("X-Virus-Status", "Clean");
                return HookDecision.Continue;
        }
    }

    /// <summary>One line of printable ASCII: a signature name goes into an SMTP reply and a header.</summary>
    private static string Printable(string text, int maxLength)
    {
        var builder = new StringBuilder(Math.Min(text.Length, maxLength));
        foreach (var c in text)
        {
            if (builder.Length == maxLength)
            {
                break;
            }

            builder.Append(c is >= ' ' and <= '~' ? c : '?');
        }

        return builder.ToString().Trim();
    }
}
