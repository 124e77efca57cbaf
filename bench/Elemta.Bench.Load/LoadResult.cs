using System.Globalization;
using System.Text.Json;

namespace Elemta.Bench.Load;

/// <summary>The outcome of a run: counts, throughput and end-of-DATA → 250 latency percentiles.</summary>
/// <param name="Messages">Messages the run was asked to send.</param>
/// <param name="Sent">Messages whose end of data got a 2xx reply.</param>
/// <param name="Errors">Unexpected replies, broken connections and timeouts.</param>
/// <param name="FirstErrors">Descriptions of the first errors (at most ten).</param>
/// <param name="ElapsedSeconds">From the first connect to the last 250 to end of data.</param>
/// <param name="LatencyP50Ms">Median end-of-DATA → 250 latency of the sent messages, in milliseconds.</param>
/// <param name="LatencyP90Ms">90th percentile of that latency.</param>
/// <param name="LatencyP99Ms">99th percentile of that latency.</param>
/// <param name="LatencyMaxMs">Largest latency.</param>
public sealed record LoadResult(
    int Messages,
    int Sent,
    int Errors,
    IReadOnlyList<string> FirstErrors,
    double ElapsedSeconds,
    double LatencyP50Ms,
    double LatencyP90Ms,
    double LatencyP99Ms,
    double LatencyMaxMs)
{
    /// <summary>Messages that were not accepted (refused, or lost with their connection).</summary>
    public int Failed => Messages - Sent;

    /// <summary>Sent messages per second of <see cref="ElapsedSeconds"/>.</summary>
    public double MessagesPerSecond => ElapsedSeconds > 0 ? Sent / ElapsedSeconds : 0;

    /// <summary>
    /// Summarises the samples: <paramref name="latencies"/> holds one entry per message, in timestamp ticks of
    /// <paramref name="timestampFrequency"/>, negative for messages that were not accepted. Sorts the array.
    /// </summary>
    public static LoadResult From(
        int messages, long[] latencies, long timestampFrequency, int errors, IReadOnlyList<string> firstErrors, TimeSpan elapsed)
    {
        ArgumentNullException.ThrowIfNull(latencies);
        Array.Sort(latencies);
        var firstSent = Array.FindIndex(latencies, l => l >= 0);
        var sent = firstSent < 0 ? ReadOnlySpan<long>.Empty : latencies.AsSpan(firstSent);
        double Ms(long ticks) => ticks * 1000.0 / timestampFrequency;
        return new LoadResult(
            messages,
            sent.Length,
            errors,
            firstErrors,
            elapsed.TotalSeconds,
            Ms(Percentile(sent, 0.50)),
            Ms(Percentile(sent, 0.90)),
            Ms(Percentile(sent, 0.99)),
            sent.IsEmpty ? 0 : Ms(sent[^1]));
    }

    /// <summary>The nearest-rank percentile <paramref name="fraction"/> of ascending <paramref name="sorted"/>; 0 if empty.</summary>
    public static long Percentile(ReadOnlySpan<long> sorted, double fraction)
    {
        if (sorted.IsEmpty)
        {
            return 0;
        }

        var rank = (int)Math.Ceiling(fraction * sorted.Length);
        return sorted[Math.Clamp(rank, 1, sorted.Length) - 1];
    }

    /// <summary>One line of <c>key=value</c> pairs, for scripts.</summary>
    public string ToSummaryLine() => string.Create(
        CultureInfo.InvariantCulture,
        $"messages={Messages} sent={Sent} failed={Failed} errors={Errors} elapsed_s={ElapsedSeconds:0.000} " +
        $"msgs_per_s={MessagesPerSecond:0.0} latency_p50_ms={LatencyP50Ms:0.000} latency_p90_ms={LatencyP90Ms:0.000} " +
        $"latency_p99_ms={LatencyP99Ms:0.000} latency_max_ms={LatencyMaxMs:0.000}");

    /// <summary>Writes the result as one JSON object (the summary line's keys, plus <c>first_errors</c>).</summary>
    public async Task WriteJsonAsync(Stream stream, CancellationToken cancellationToken)
    {
        await using var json = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true });
        json.WriteStartObject();
        json.WriteNumber("messages", Messages);
        json.WriteNumber("sent", Sent);
        json.WriteNumber("failed", Failed);
        json.WriteNumber("errors", Errors);
        json.WriteNumber("elapsed_s", Math.Round(ElapsedSeconds, 3));
        json.WriteNumber("msgs_per_s", Math.Round(MessagesPerSecond, 1));
        json.WriteNumber("latency_p50_ms", Math.Round(LatencyP50Ms, 3));
        json.WriteNumber("latency_p90_ms", Math.Round(LatencyP90Ms, 3));
        json.WriteNumber("latency_p99_ms", Math.Round(LatencyP99Ms, 3));
        json.WriteNumber("latency_max_ms", Math.Round(LatencyMaxMs, 3));
        json.WriteStartArray("first_errors");
        foreach (var error in FirstErrors)
        {
            json.WriteStringValue(error);
        }

        json.WriteEndArray();
        json.WriteEndObject();
        await json.FlushAsync(cancellationToken);
    }
}
