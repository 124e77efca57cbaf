using System.Xml.Linq;
using Elemta.Contracts;
using Microsoft.AspNetCore.DataProtection.Repositories;

namespace Elemta.Admin.KeyRing;

/// <summary>
/// ASP.NET Core data protection's key storage over the cluster's <see cref="IDataProtectionKeyRingGrain"/>: every
/// host (each silo, each <c>elemta web</c> process) reads and writes one key ring, so a sign-in cookie, an antiforgery
/// token or a Blazor circuit issued by one host is accepted by every other, as behind a load balancer. The ring is
/// persisted in grain storage, so a single node keeps it across restarts as the file system did.
/// </summary>
/// <remarks>
/// <para>
/// <see cref="IXmlRepository"/> is synchronous, so the grain calls are waited on. Data protection calls it rarely:
/// when a host first needs the ring, once a day to refresh it, when a key is created (every 90 days), and when a
/// payload names a key the host has not seen yet (another host made it just now). The calls run on the thread pool
/// (<see cref="Task.Run(Func{Task})"/>) so that waiting never holds a request's or a circuit's synchronization
/// context, and they end with Orleans' response timeout when the cluster does not answer.
/// </para>
/// <para>
/// The elements are stored as data protection wrote them. Nothing encrypts them at rest by default on Linux: what
/// protects the keys is who can read the grain storage — the same database, with the same access control, as the
/// queue and the accounts' password hashes (see docs/admin.md).
/// </para>
/// </remarks>
public sealed class GrainXmlRepository(IGrainFactory grains) : IXmlRepository
{
    // How many elements the last read returned: data protection reads the ring, finds no usable key, makes one and
    // stores it, and the grain refuses that key if another host stored one in between (see the grain's contract).
    private int _elementsRead;

    private IDataProtectionKeyRingGrain Ring => grains.GetGrain<IDataProtectionKeyRingGrain>(IDataProtectionKeyRingGrain.ApplicationName);

    /// <inheritdoc />
    public IReadOnlyCollection<XElement> GetAllElements()
    {
        var elements = Task.Run(() => Ring.GetElementsAsync()).GetAwaiter().GetResult();
        Volatile.Write(ref _elementsRead, elements.Length);
        return [.. elements.Select(e => XElement.Parse(e.Xml))];
    }

    /// <inheritdoc />
    public void StoreElement(XElement element, string friendlyName)
    {
        ArgumentNullException.ThrowIfNull(element);

        // Data protection always names its elements (key-<id>, revocation-<date>); a nameless one still gets a unique name.
        var name = string.IsNullOrEmpty(friendlyName) ? Guid.NewGuid().ToString("N") : friendlyName;
        var stored = new DataProtectionKeyElement(name, element.ToString(SaveOptions.DisableFormatting));
        if (!Task.Run(() => Ring.StoreElementAsync(stored, Volatile.Read(ref _elementsRead))).GetAwaiter().GetResult())
        {
            // Data protection gives up on this key and, on its next use of the ring, reads it again: it then finds the
            // key the other host made and uses it. The one call that made the key fails (at start, a logged warning).
            throw new InvalidOperationException($"Another host stored a data-protection key while this one made {name}; the key ring will be read again.");
        }
    }
}
