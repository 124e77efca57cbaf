using OpenTelemetry.Exporter;

namespace Elemta.Silo.Observability;

/// <summary>How the silo logs (<c>Elemta:Logging</c>, docs/observability.md).</summary>
public sealed class LoggingOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Logging";

    /// <summary><see cref="LogFormat.Simple"/> (one line per event, the default) or <see cref="LogFormat.Json"/> (one JSON object per line).</summary>
    public LogFormat Format { get; set; } = LogFormat.Simple;

    /// <summary>
    /// Whether each line carries its scopes (SMTP session id and client address, queue id and domain). Default: on
    /// for JSON, off for the simple format, where they would make every line long.
    /// </summary>
    public bool? IncludeScopes { get; set; }
}

/// <summary>The console log format.</summary>
public enum LogFormat
{
    /// <summary>One line per event: time, level, category, message.</summary>
    Simple,

    /// <summary>One JSON object per event, with the message template's fields and the scopes as properties.</summary>
    Json,
}

/// <summary>Where traces go (<c>Elemta:Tracing</c>); off unless <see cref="OtlpEndpoint"/> is set.</summary>
public sealed class TracingOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Tracing";

    /// <summary>The OTLP collector, e.g. <c>http://127.0.0.1:4317</c> (gRPC) or <c>http://127.0.0.1:4318/v1/traces</c> (HTTP). Null: no tracing.</summary>
    public Uri? OtlpEndpoint { get; set; }

    /// <summary><see cref="OtlpExportProtocol.Grpc"/> (the default) or <see cref="OtlpExportProtocol.HttpProtobuf"/>.</summary>
    public OtlpExportProtocol OtlpProtocol { get; set; } = OtlpExportProtocol.Grpc;

    /// <summary>The share of traces kept, 0 to 1 (parent-based: a session's activities are all kept or all dropped). Default 1.</summary>
    public double SampleRatio { get; set; } = 1;
}
