using System.Net;
using System.Text;
using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>
/// An OTLP/HTTP trace receiver on loopback for the silo's exporter (<c>Elemta:Tracing:OtlpProtocol=HttpProtobuf</c>):
/// it keeps every export request and decodes its spans from the protobuf wire format. Debian ships no OpenTelemetry
/// collector or Jaeger, and the few fields needed here are a few lines of wire format rather than a generated client.
/// </summary>
internal sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly HttpListener _listener = new();
    private readonly List<(string Path, byte[] Body)> _requests = [];
    private readonly Task _receiving;

    private OtlpReceiver(int port)
    {
        Endpoint = $"http://127.0.0.1:{port}/v1/traces";
        _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
        _listener.Start();
        _receiving = Task.Run(ReceiveAsync);
    }

    /// <summary>The value for <c>Elemta:Tracing:OtlpEndpoint</c>.</summary>
    public string Endpoint { get; }

    /// <summary>Starts a receiver on a free loopback port.</summary>
    public static OtlpReceiver Start() => new(FreePort.GetTcpPort());

    /// <summary>Every span received so far.</summary>
    public List<OtlpSpan> Spans()
    {
        lock (_requests)
        {
            return [.. _requests.SelectMany(r => Decode(r.Body))];
        }
    }

    /// <summary>The request path of every export received so far.</summary>
    public List<string> Paths()
    {
        lock (_requests)
        {
            return [.. _requests.Select(r => r.Path)];
        }
    }

    /// <summary><paramref name="span"/> and its ancestors in <paramref name="all"/>, nearest first, as far as they were received.</summary>
    public static List<OtlpSpan> ChainOf(IReadOnlyList<OtlpSpan> all, OtlpSpan span)
    {
        var chain = new List<OtlpSpan> { span };
        while (chain[^1].ParentSpanId is { } parentId && all.FirstOrDefault(s => s.TraceId == span.TraceId && s.SpanId == parentId) is { } parent)
        {
            chain.Add(parent);
        }

        return chain;
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        await _receiving;
        _listener.Close();
    }

    private async Task ReceiveAsync()
    {
        while (_listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await _listener.GetContextAsync();
            }
            catch (Exception ex) when (ex is HttpListenerException or ObjectDisposedException)
            {
                return;
            }

            using var body = new MemoryStream();
            await context.Request.InputStream.CopyToAsync(body);
            lock (_requests)
            {
                _requests.Add((context.Request.Url!.AbsolutePath, body.ToArray()));
            }

            context.Response.StatusCode = 200;
            context.Response.Close();
        }
    }

    /// <summary>
    /// Every span in an OTLP ExportTraceServiceRequest: resource_spans (1) → scope_spans (2) → spans (2) → trace_id (1),
    /// span_id (2), parent_span_id (4, empty for a root), name (5) — the opentelemetry-proto messages.
    /// </summary>
    private static IEnumerable<OtlpSpan> Decode(byte[] request)
    {
        foreach (var resource in Fields(request, 1))
        {
            foreach (var scope in Fields(resource, 2))
            {
                foreach (var span in Fields(scope, 2))
                {
                    yield return new OtlpSpan(
                        Convert.ToHexString(Fields(span, 1).Single()),
                        Convert.ToHexString(Fields(span, 2).Single()),
                        Fields(span, 4).SingleOrDefault() is { Length: > 0 } parent ? Convert.ToHexString(parent) : null,
                        Encoding.UTF8.GetString(Fields(span, 5).Single()),
                        Encoding.Latin1.GetString(span));
                }
            }
        }
    }

    /// <summary>The length-delimited fields numbered <paramref name="number"/> of one protobuf message (other fields skipped).</summary>
    private static List<byte[]> Fields(byte[] message, int number)
    {
        var found = new List<byte[]>();
        var at = 0;
        ulong Varint()
        {
            ulong value = 0;
            for (var shift = 0; ; shift += 7)
            {
                var b = message[at++];
                value |= (ulong)(b & 0x7f) << shift;
                if (b < 0x80)
                {
                    return value;
                }
            }
        }

        while (at < message.Length)
        {
            var key = Varint();
            switch (key & 7)
            {
                case 0:
                    Varint();
                    break;
                case 1:
                    at += 8;
                    break;
                case 5:
                    at += 4;
                    break;
                case 2:
                    var length = (int)Varint();
                    if ((int)(key >> 3) == number)
                    {
                        found.Add(message[at..(at + length)]);
                    }

                    at += length;
                    break;
                default:
                    throw new FormatException($"unexpected wire type {key & 7}");
            }
        }

        return found;
    }
}

/// <summary>One exported span: ids in upper-case hex, its parent's id (null for a root), its name and its raw bytes (for attribute values).</summary>
internal sealed record OtlpSpan(string TraceId, string SpanId, string? ParentSpanId, string Name, string Raw);
