using System.Collections.Concurrent;
using System.Diagnostics.Metrics;

namespace Elemta.Plugins.Tests;

/// <summary>Listens to the <c>Elemta.Plugins</c> meter and keeps the measurements tagged with one plugin's name.</summary>
internal sealed class PluginMeasurements : IDisposable
{
    private readonly MeterListener _listener = new();
    private readonly ConcurrentQueue<(string Instrument, string Hook, double Value)> _measurements = new();

    public PluginMeasurements(string plugin)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == PluginMetrics.Name)
            {
                listener.EnableMeasurementEvents(instrument);
            }
        };
        _listener.SetMeasurementEventCallback<long>((instrument, value, tags, _) => Record(plugin, instrument, value, tags));
        _listener.SetMeasurementEventCallback<double>((instrument, value, tags, _) => Record(plugin, instrument, value, tags));
        _listener.Start();
    }

    /// <summary>The sum of <paramref name="instrument"/>'s measurements for <paramref name="hook"/> (a histogram: how many).</summary>
    public double Total(string instrument, string hook) =>
        instrument.EndsWith("duration", StringComparison.Ordinal)
            ? _measurements.Count(m => m.Instrument == instrument && m.Hook == hook)
            : _measurements.Where(m => m.Instrument == instrument && m.Hook == hook).Sum(m => m.Value);

    public void Dispose() => _listener.Dispose();

    private void Record(string plugin, Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        string? taggedPlugin = null;
        string? hook = null;
        foreach (var tag in tags)
        {
            if (tag.Key == "plugin")
            {
                taggedPlugin = tag.Value as string;
            }
            else if (tag.Key == "hook")
            {
                hook = tag.Value as string;
            }
        }

        if (taggedPlugin == plugin && hook is not null)
        {
            _measurements.Enqueue((instrument.Name, hook, value));
        }
    }
}
