namespace Elemta.Policies.AccessLists;

/// <summary>
/// The IP access list's plugin, section <c>Elemta:AccessList</c>. The list itself is not configuration: it is changed
/// at run time (<c>elemta access</c>, <c>/api/access-list</c>) and persisted in the access-list grain.
/// </summary>
public sealed class AccessListOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:AccessList";

    /// <summary>
    /// How often each silo reads the list from its grain: a change is effective on every silo within this interval.
    /// Default 5 s; between 1 s and 10 min. A read when nothing changed carries only the version number.
    /// </summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(5);
}
