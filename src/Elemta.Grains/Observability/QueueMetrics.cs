using System.Diagnostics;
using System.Diagnostics.Metrics;
using Elemta.Contracts;

namespace Elemta.Grains.Observability;

/// <summary>
/// The queue's meter and activity source: messages queued, recipient outcomes, delivery latency and attempt
/// duration, destination circuits and throttling. Called once per message or attempt; each call is a static
/// instrument's <c>Add</c> or <c>Record</c> with tags built once. The Prometheus names are in docs/observability.md.
/// </summary>
public static class QueueMetrics
{
    /// <summary>The meter's and the activity source's name.</summary>
    public const string Name = "Elemta.Queue";

    private static readonly Meter Meter = new(Name);

    /// <summary>Activities: each delivery attempt of a domain queue.</summary>
    public static readonly ActivitySource Activities = new(Name);

    // Seconds from a fraction of a second (a local delivery) to the default queue lifetime of five days.
    private static readonly double[] LatencyBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 43200, 86400, 172800, 432000];

    // An attempt is a DNS lookup and an SMTP transaction: milliseconds to the command timeouts (minutes).
    private static readonly double[] AttemptBuckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600];

    private static readonly Counter<long> Queued = Meter.CreateCounter<long>(
        "elemta.messages.queued", "{message}", "Messages committed to the queue (received over SMTP or the API, and notices to senders)");

    private static readonly Counter<long> Delivered = Meter.CreateCounter<long>(
        "elemta.recipients.delivered", "{recipient}", "Recipients whose delivery succeeded");

    private static readonly Counter<long> Deferred = Meter.CreateCounter<long>(
        "elemta.recipients.deferred", "{recipient}", "Recipient attempts that failed temporarily and will be retried");

    private static readonly Counter<long> Bounced = Meter.CreateCounter<long>(
        "elemta.recipients.bounced", "{recipient}", "Recipients that failed permanently (a 5xx, or expired: see elemta.recipients.expired)");

    private static readonly Counter<long> Expired = Meter.CreateCounter<long>(
        "elemta.recipients.expired", "{recipient}", "Recipients that failed because they outlived the queue lifetime (also counted as bounced)");

    private static readonly Histogram<double> Latency = Meter.CreateHistogram(
        "elemta.delivery.latency", "s", "Time from receipt to a recipient's final outcome, by result",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

    private static readonly Histogram<double> AttemptDuration = Meter.CreateHistogram(
        "elemta.delivery.attempt.duration", "s", "Duration of one delivery attempt (one message to one domain), by result",
        advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = AttemptBuckets });

    private static readonly UpDownCounter<long> OpenCircuits = Meter.CreateUpDownCounter<long>(
        "elemta.destination.circuits.open", "{circuit}", "Domain queues on this silo whose circuit breaker is open or half open");

    private static readonly Counter<long> CircuitOpenings = Meter.CreateCounter<long>(
        "elemta.destination.circuit.openings", "{opening}", "Times a domain queue's circuit breaker opened");

    private static readonly Counter<long> Throttled = Meter.CreateCounter<long>(
        "elemta.destination.throttled", "{refusal}", "Delivery starts refused by a destination's shared concurrency or rate budget");

    private static readonly KeyValuePair<string, object?> ResultDelivered = new("result", "delivered");
    private static readonly KeyValuePair<string, object?> ResultDeferred = new("result", "deferred");
    private static readonly KeyValuePair<string, object?> ResultBounced = new("result", "bounced");

    /// <summary>Adds 0 to every counter, once the exporter listens, so each series exists from the start (see SmtpMetrics).</summary>
    public static void InitializeSeries()
    {
        Queued.Add(0);
        Delivered.Add(0);
        Deferred.Add(0);
        Bounced.Add(0);
        Expired.Add(0);
        OpenCircuits.Add(0);
        CircuitOpenings.Add(0);
        Throttled.Add(0);
    }

    /// <summary>A message entered the queue.</summary>
    public static void MessageQueued() => Queued.Add(1);

    /// <summary>A recipient was delivered, <paramref name="sinceReceipt"/> after its message was received.</summary>
    public static void RecipientDelivered(TimeSpan sinceReceipt)
    {
        Delivered.Add(1);
        Latency.Record(sinceReceipt.TotalSeconds, ResultDelivered);
    }

    /// <summary>A recipient failed permanently; <paramref name="expired"/> when its queue lifetime ran out.</summary>
    public static void RecipientBounced(TimeSpan sinceReceipt, bool expired)
    {
        Bounced.Add(1);
        if (expired)
        {
            Expired.Add(1);
        }

        Latency.Record(sinceReceipt.TotalSeconds, ResultBounced);
    }

    /// <summary>A recipient's attempt failed temporarily.</summary>
    public static void RecipientDeferred() => Deferred.Add(1);

    /// <summary>An attempt ended; its result is delivered when every recipient was, deferred when any is retried, else bounced.</summary>
    public static void AttemptEnded(DeliveryAttempt attempt, TimeSpan duration)
    {
        var delivered = true;
        var transient = false;
        foreach (var result in attempt.Results)
        {
            delivered &= result.Outcome == RecipientOutcome.Delivered;
            transient |= result.Outcome == RecipientOutcome.Transient;
        }

        AttemptDuration.Record(duration.TotalSeconds, delivered ? ResultDelivered : transient ? ResultDeferred : ResultBounced);
    }

    /// <summary>A domain queue's circuit opened (from closed).</summary>
    public static void CircuitOpened()
    {
        CircuitOpenings.Add(1);
        OpenCircuits.Add(1);
    }

    /// <summary>A circuit counted by <see cref="CircuitOpened"/> closed, or its activation went away.</summary>
    public static void CircuitClosed() => OpenCircuits.Add(-1);

    /// <summary>A destination refused to start a delivery now.</summary>
    public static void DestinationThrottled() => Throttled.Add(1);
}
