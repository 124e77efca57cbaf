using System.Globalization;
using Elemta.Contracts;

namespace Elemta.Admin.Live;

/// <summary>How the pages write numbers, sizes, times and states.</summary>
public static class Format
{
    /// <summary>A count with thousands separators.</summary>
    public static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    /// <summary>A size in B, KiB or MiB.</summary>
    public static string Size(long bytes) => bytes switch
    {
        < 1024 => $"{bytes} B",
        < 1024 * 1024 => (bytes / 1024.0).ToString("0.#", CultureInfo.InvariantCulture) + " KiB",
        _ => (bytes / (1024.0 * 1024)).ToString("0.#", CultureInfo.InvariantCulture) + " MiB",
    };

    /// <summary>A UTC time, to the second.</summary>
    public static string Time(DateTimeOffset? time) =>
        time is { } t ? t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss 'UTC'", CultureInfo.InvariantCulture) : "—";

    /// <summary>A duration as its two largest units ("3 h 12 min", "45 s").</summary>
    public static string Duration(TimeSpan span)
    {
        if (span < TimeSpan.Zero)
        {
            span = TimeSpan.Zero;
        }

        return span.TotalDays >= 1 ? $"{(int)span.TotalDays} d {span.Hours} h"
            : span.TotalHours >= 1 ? $"{(int)span.TotalHours} h {span.Minutes} min"
            : span.TotalMinutes >= 1 ? $"{(int)span.TotalMinutes} min {span.Seconds} s"
            : $"{(int)span.TotalSeconds} s";
    }

    /// <summary>A state as the pages name it.</summary>
    public static string State(MessageQueueState state) => state == MessageQueueState.Held ? "Held" : state.ToString();

    /// <summary>A priority in lower case, as the API and CLI write it.</summary>
    public static string Priority(MessagePriority priority) => priority.ToString().ToLowerInvariant();
}
