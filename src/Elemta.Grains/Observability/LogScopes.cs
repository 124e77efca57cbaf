using Microsoft.Extensions.Logging;

namespace Elemta.Grains.Observability;

/// <summary>The log scopes of the queue: every line about one attempt carries the message (queue id) and the domain.</summary>
/// <remarks>
/// Scopes live in an async-local and do not cross a grain call, so each grain that logs about an attempt opens its own.
/// </remarks>
internal static class LogScopes
{
    /// <summary>Opens the scope <c>QueueId:{QueueId} Domain:{Domain}</c>.</summary>
    public static readonly Func<ILogger, string, string, IDisposable?> Attempt =
        LoggerMessage.DefineScope<string, string>("QueueId:{QueueId} Domain:{Domain}");
}
