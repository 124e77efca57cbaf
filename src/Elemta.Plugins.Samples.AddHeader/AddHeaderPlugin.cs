namespace Elemta.Plugins.Samples.AddHeader;

/// <summary>
/// Adds one header field to every message before it is queued: <c>X-Elemta-Sample: &lt;value&gt;</c> by default, or
/// the name and value set under <c>Elemta:Plugins:Items:AddHeader:Settings</c> (<c>Name</c>, <c>Value</c>).
/// </summary>
public sealed class AddHeaderPlugin : IElemtaPlugin, IMessageHooks
{
    private string _name = "X-Elemta-Sample";
    private string _value = "added by the AddHeader sample plugin";

    /// <inheritdoc />
    public string Name => "AddHeader";

    /// <inheritdoc />
    public Version Version => new(1, 0, 0);

    /// <inheritdoc />
    public ValueTask InitializeAsync(PluginContext context, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(context);
        _name = context.Settings["Name"] ?? _name;
        _value = context.Settings["Value"] ?? _value;
        return default;
    }

    /// <inheritdoc />
    public ValueTask<HookDecision> OnMessageAsync(SessionInfo session, MessageContext message, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(message);
        message.AddHeader(_name, _value);
        return HookDecision.ContinueTask;
    }
}
