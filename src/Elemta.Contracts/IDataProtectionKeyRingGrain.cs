using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>
/// The cluster's one ASP.NET Core data-protection key ring (key: the data-protection application name, see
/// <see cref="ApplicationName"/>): the XML elements — keys and revocations — that sign and encrypt the admin app's
/// sign-in cookies, antiforgery tokens and Blazor circuit state. Every silo and every <c>elemta web</c> process reads
/// and writes the same elements, so what one of them issued, any other accepts.
/// </summary>
[Alias("elemta.IDataProtectionKeyRingGrain")]
public interface IDataProtectionKeyRingGrain : IGrainWithStringKey
{
    /// <summary>The data-protection application name every Elemta host sets, and this grain's key.</summary>
    const string ApplicationName = "Elemta";

    /// <summary>Every stored element, in the order they were first stored.</summary>
    [Alias("elements")]
    Task<ImmutableArray<DataProtectionKeyElement>> GetElementsAsync();

    /// <summary>
    /// Stores <paramref name="element"/> (an element with the same name is replaced, so a retried write stores it once)
    /// and returns true; or, when it is a new key (<see cref="DataProtectionKeyElement.IsKey"/>) and the ring no longer
    /// has the <paramref name="elementsRead"/> elements its writer read before deciding to make it, stores nothing and
    /// returns false: another host made a key in the meantime, and the writer should read the ring again and use that
    /// one, so that hosts starting together end up with one key instead of one each.
    /// </summary>
    [Alias("store")]
    Task<bool> StoreElementAsync(DataProtectionKeyElement element, int elementsRead);
}

/// <summary>One element of the key ring as the data-protection system wrote it.</summary>
/// <param name="Name">The name data protection gave it (<c>key-&lt;id&gt;</c>, <c>revocation-&lt;date&gt;</c>).</param>
/// <param name="Xml">The element, serialized XML.</param>
[GenerateSerializer, Immutable, Alias("elemta.DataProtectionKeyElement")]
public sealed record DataProtectionKeyElement(
    [property: Id(0)] string Name,
    [property: Id(1)] string Xml)
{
    /// <summary>Whether this is a key (data protection names keys <c>key-&lt;id&gt;</c>), not a revocation.</summary>
    public bool IsKey => Name.StartsWith("key-", StringComparison.Ordinal);
}

/// <summary>Persisted state of the key ring.</summary>
[GenerateSerializer, Alias("elemta.DataProtectionKeyRingState")]
public sealed class DataProtectionKeyRingState
{
    /// <summary>Every element, oldest first.</summary>
    [Id(0)] public ImmutableArray<DataProtectionKeyElement> Elements { get; set; } = [];
}
