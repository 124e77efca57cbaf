namespace Elemta.Contracts;

/// <summary>Queue ids: time-ordered (UUID version 7), so ids sort roughly by arrival and index well.</summary>
public static class MessageIds
{
    /// <summary>A new id of 32 lower-case hex digits.</summary>
    public static string New() => Guid.CreateVersion7().ToString("N");
}
