using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Elemta.Plugins;

/// <summary>The meter <c>Elemta.Plugins</c>: hook calls, failures, timeouts and durations per plugin and hook.</summary>
public static class PluginMetrics
{
    /// <summary>The meter's name, for exporters.</summary>
    public const string Name = "Elemta.Plugins";

    private static readonly Meter Meter = new(Name);

    private static readonly Counter<long> Calls = Meter.CreateCounter<long>("elemta.plugin.calls", "{call}", "Hook calls, by plugin and hook.");
    private static readonly Counter<long> Errors = Meter.CreateCounter<long>("elemta.plugin.errors", "{call}", "Hook calls that threw, by plugin and hook.");
    private static readonly Counter<long> Timeouts = Meter.CreateCounter<long>("elemta.plugin.timeouts", "{call}", "Hook calls that exceeded the plugin's time budget, by plugin and hook.");
    private static readonly Histogram<double> Duration = Meter.CreateHistogram<double>("elemta.plugin.duration", "s", "How long hook calls took, by plugin and hook (a timed-out call counts its budget).",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] });

    internal static void Called(string plugin, string hook, long startTimestamp, HookOutcome outcome)
    {
        var tags = new TagList { { "plugin", plugin }, { "hook", hook } };
        Calls.Add(1, tags);
        switch (outcome)
        {
            case HookOutcome.Error:
                Errors.Add(1, tags);
                break;
            case HookOutcome.Timeout:
                Timeouts.Add(1, tags);
                break;
        }

        Duration.Record(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds, tags);
    }
}

/// <summary>How one hook call ended.</summary>
internal enum HookOutcome
{
    Completed,
    Error,
    Timeout,
}
