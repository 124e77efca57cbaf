using System.Diagnostics.Metrics;
using System.Security.Authentication;

namespace Elemta.Delivery.Observability;

/// <summary>The delivery agents' meter: outbound TLS sessions by protocol version (docs/observability.md).</summary>
public static class DeliveryMetrics
{
    /// <summary>The meter's name.</summary>
    public const string Name = "Elemta.Delivery";

    private static readonly Meter Meter = new(Name);

    private static readonly Counter<long> TlsSessions = Meter.CreateCounter<long>(
        "elemta.delivery.tls.sessions", "{session}", "Outbound SMTP sessions opened, by TLS protocol version (none for clear text)");

    private static readonly KeyValuePair<string, object?> Tls12 = new("version", "tls1.2");
    private static readonly KeyValuePair<string, object?> Tls13 = new("version", "tls1.3");
    private static readonly KeyValuePair<string, object?> TlsOther = new("version", "other");
    private static readonly KeyValuePair<string, object?> TlsNone = new("version", "none");

    /// <summary>Adds 0 to every series, once the exporter listens, so each exists from the start.</summary>
    public static void InitializeSeries()
    {
        TlsSessions.Add(0, Tls12);
        TlsSessions.Add(0, Tls13);
        TlsSessions.Add(0, TlsNone);
    }

    /// <summary>An outbound session was opened; <paramref name="secure"/> when STARTTLS succeeded.</summary>
    public static void SessionOpened(bool secure, SslProtocols protocol) =>
        TlsSessions.Add(1, !secure ? TlsNone : protocol switch
        {
            SslProtocols.Tls13 => Tls13,
            SslProtocols.Tls12 => Tls12,
            _ => TlsOther,
        });
}
