using System.Collections.Immutable;
using Elemta.Contracts;
using Microsoft.Extensions.Logging;

namespace Elemta.Grains;

/// <summary>
/// The data-protection key ring in one small persisted state, in the grain storage every other Elemta grain uses:
/// SQLite beside a single node's queue, the shared PostgreSQL database in a cluster. One activation in the cluster,
/// so writes from several hosts are serialized and none is lost.
/// </summary>
/// <remarks>
/// A grain rather than a table of the relational store: the <c>elemta web</c> process is an Orleans client that may
/// have no database connection at all (a single node's SQLite file is not shared), and grain storage already gives
/// this state the same database, backups and access control as the queue. The ring is tiny (one element per key,
/// a new key every 90 days) and data protection reads it once a day per host, so one grain is no bottleneck.
/// </remarks>
public sealed partial class DataProtectionKeyRingGrain(
    [PersistentState("data-protection-keys", GrainStorage.ProviderName)] IPersistentState<DataProtectionKeyRingState> state,
    ILogger<DataProtectionKeyRingGrain> logger) : Grain, IDataProtectionKeyRingGrain
{
    /// <inheritdoc />
    public Task<ImmutableArray<DataProtectionKeyElement>> GetElementsAsync() => Task.FromResult(state.State.Elements);

    /// <inheritdoc />
    public async Task<bool> StoreElementAsync(DataProtectionKeyElement element, int elementsRead)
    {
        ArgumentNullException.ThrowIfNull(element);
        ArgumentException.ThrowIfNullOrEmpty(element.Name);
        ArgumentException.ThrowIfNullOrEmpty(element.Xml);
        var elements = state.State.Elements;

        // Elements are never removed, so a longer ring means another host wrote since this writer read it. For a key,
        // that is the race of hosts starting together on an empty ring (or rolling over together): each would make
        // its own key, and a host that read the ring before another's key was stored would not accept that host's
        // cookies until its daily reload. The later key is refused; its writer reads the ring again and uses the first.
        if (element.IsKey && elements.Length != elementsRead && !elements.Any(e => e.Name == element.Name))
        {
            LogRefused(element.Name, this.GetPrimaryKeyString(), elementsRead, elements.Length);
            return false;
        }

        var index = -1;
        for (var i = 0; i < elements.Length && index < 0; i++)
        {
            index = string.Equals(elements[i].Name, element.Name, StringComparison.Ordinal) ? i : -1;
        }

        state.State.Elements = index < 0 ? elements.Add(element) : elements.SetItem(index, element);
        await state.WriteStateAsync();
        LogStored(element.Name, this.GetPrimaryKeyString(), state.State.Elements.Length);
        return true;
    }

    [LoggerMessage(EventId = 2701, Level = LogLevel.Information, Message = "Data protection: refused {Name} for key ring {Ring}: its writer read {Read} elements, the ring has {Count} (another host stored a key meanwhile; the writer reads the ring again)")]
    private partial void LogRefused(string name, string ring, int read, int count);

    [LoggerMessage(EventId = 2700, Level = LogLevel.Information, Message = "Data protection: stored {Name} in key ring {Ring} ({Count} elements)")]
    private partial void LogStored(string name, string ring, int count);
}
