using Elemta.Testing;

namespace Elemta.Silo.Tests;

/// <summary>Where a message's delivery attempts go in the traces when they are retried, and after a silo restart.</summary>
public sealed partial class ObservabilityTests
{
    [Fact]
    public async Task A_retry_joins_the_sessions_trace_and_after_a_restart_the_attempt_is_a_trace_of_its_own_with_the_message_id()
    {
        await using var receiver = OtlpReceiver.Start();
        await using var sink = SmtpSink.Start();
        var accepting = 0;
        sink.OnRecipient = _ => Volatile.Read(ref accepting) == 1 ? null : new SmtpSinkReply(450, "4.2.1 mailbox busy");
        using var data = new TempDirectory();
        var tracing = new Dictionary<string, string>
        {
            ["Elemta:Tracing:OtlpEndpoint"] = receiver.Endpoint,
            ["Elemta:Tracing:OtlpProtocol"] = "HttpProtobuf",
            ["Elemta:Queue:RetrySchedule:0"] = "00:00:01",
            ["Elemta:Queue:SweepInterval"] = "00:00:01",
        };

        string messageId;
        string sessionTrace;
        await using (var first = await StartSiloAsync(data, sink, tracing))
        {
            await SendNullSenderAsync(first.SmtpPort, ["later@example.net"]);

            // The first attempt and its retry (the message grain still holds the acceptance's context) are both spans
            // of the session's trace.
            var spans = await Eventually.GetAsync(() => Task.FromResult(receiver.Spans()),
                s => s.Any(span => span.Name == "smtp.session") && s.Count(span => span.Name == "delivery.attempt" && OtlpReceiver.ChainOf(s, span)[^1].Name == "smtp.session") >= 2,
                Timeout, "an attempt and its retry in the session's trace");
            var session = spans.Single(span => span.Name == "smtp.session");
            sessionTrace = session.TraceId;
            messageId = MessageIdInSpan().Match(spans.Single(span => span.Name == "smtp.accept").Raw).Value;
            Assert.Matches("^[0-9a-f]{32}$", messageId);
            Assert.All(spans.Where(span => span.Name == "delivery.attempt"), span =>
            {
                Assert.Equal(sessionTrace, span.TraceId);
                Assert.Equal("IMessageGrain/AcceptAsync", OtlpReceiver.ChainOf(spans, span)[1].Name);
            });

            // A crash: the acceptance's context, kept only in memory, is gone with the process.
            await first.KillAsync();
        }

        Interlocked.Exchange(ref accepting, 1);
        await using var second = await StartSiloAsync(data, sink, tracing);
        await sink.WaitForMessageAsync(m => m.Recipients.Contains("later@example.net"), Timeout);

        // The new silo rebuilt the message from the store: its attempt is the root of a trace of its own, joined to
        // the acceptance by elemta.message_id.
        var after = await Eventually.GetAsync(() => Task.FromResult(receiver.Spans()),
            s => s.Any(span => span.Name == "delivery.attempt" && span.TraceId != sessionTrace),
            Timeout, "the attempt of the restarted silo");
        var attempt = after.Single(span => span.Name == "delivery.attempt" && span.TraceId != sessionTrace);
        Assert.Null(attempt.ParentSpanId);
        Assert.Contains(messageId, attempt.Raw, StringComparison.Ordinal);
    }
}
