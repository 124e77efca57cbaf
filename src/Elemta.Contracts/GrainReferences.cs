namespace Elemta.Contracts;

/// <summary>
/// Grain references for string-keyed grains without Orleans' per-call resolution of the interface type.
/// </summary>
/// <remarks>
/// <see cref="IGrainFactory.GetGrain{TGrainInterface}(string, string)"/> resolves the grain interface type from the
/// .NET type on every call, reading its custom attributes and formatting its name; profiling the SMTP acceptance path
/// showed that at about 4 % of the silo's CPU, because every message, connection and delivery asks for references by
/// key. The grain type and interface type of an interface never change while the process runs, so they are resolved
/// once, through the ordinary call, and each later reference is built from the key alone.
/// </remarks>
public static class GrainReferences
{
    /// <summary>
    /// Returns the reference to the <typeparamref name="TGrain"/> grain with <paramref name="key"/>; the same grain as
    /// <see cref="IGrainFactory.GetGrain{TGrainInterface}(string, string)"/> gives.
    /// </summary>
    public static TGrain GetCachedGrain<TGrain>(this IGrainFactory factory, string key) where TGrain : IGrainWithStringKey
    {
        ArgumentNullException.ThrowIfNull(factory);
        var types = Resolved<TGrain>.Types;
        if (types is null)
        {
            var grain = factory.GetGrain<TGrain>(key);
            var reference = (GrainReference)(object)grain;
            var grainType = reference.GrainId.Type;

            // A "sys." type is a placeholder used while the cluster's type map is not known yet (a client before it has
            // the manifest): never remember it, so the next call resolves again.
            if (!grainType.ToString()!.StartsWith(GrainTypePrefix.SystemPrefix, StringComparison.Ordinal))
            {
                Resolved<TGrain>.Types = new ResolvedTypes(grainType, reference.InterfaceType);
            }

            return grain;
        }

        ArgumentException.ThrowIfNullOrWhiteSpace(key);
        return (TGrain)factory.GetGrain(GrainId.Create(types.GrainType, IdSpan.Create(key)), types.InterfaceType);
    }

    private sealed record ResolvedTypes(GrainType GrainType, GrainInterfaceType InterfaceType);

    private static class Resolved<TGrain>
    {
        public static volatile ResolvedTypes? Types;
    }
}
