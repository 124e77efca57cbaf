using System.Reflection;
using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Elemta.Smtp.Tests;

/// <summary>
/// <see cref="GrainMessageAcceptor"/> in a real SMTP session: once the store's commit has returned the answer is 250,
/// whatever the grain call after it does; only a failed commit is a 451 (the client then still has the message).
/// </summary>
public sealed class CommittedAcceptanceTests
{
    [Fact]
    public async Task A_grain_call_that_throws_after_the_commit_still_gets_250_and_a_warning()
    {
        var store = new RecordingAcceptor();
        await using var server = await SmtpTestServer.StartAsync(acceptorFactory: sp => Acceptor(sp, store));
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: committed\r\n\r\nx\r\n")).AssertQueued();

        var committed = Assert.Single(store.Messages);
        Assert.Equal("b@example.net", Assert.Single(committed.Envelope.Recipients));
        Assert.Contains(server.Logs, e => e.Level == LogLevel.Warning
            && e.Category == typeof(GrainMessageAcceptor).FullName
            && e.Message.Contains(committed.Envelope.MessageId, StringComparison.Ordinal)
            && e.Exception is GrainCallFailedException);
        Assert.DoesNotContain(server.Logs, e => e.Message.StartsWith("Could not accept", StringComparison.Ordinal));

        // The session goes on as after any 250.
        (await client.SendMessageAsync("a@example.org", ["c@example.net"], "Subject: second\r\n\r\nx\r\n")).AssertQueued();
        Assert.Equal(2, store.Messages.Count);
    }

    [Fact]
    public async Task A_commit_that_throws_is_451_4_3_0_and_the_grain_is_never_called()
    {
        var store = new RecordingAcceptor();
        store.FailNext(1);
        var grains = FailingGrainFactory.Create();
        await using var server = await SmtpTestServer.StartAsync(acceptorFactory: sp => Acceptor(sp, store, grains));
        await using var client = await server.ConnectAndEhloAsync();

        (await client.SendMessageAsync("a@example.org", ["b@example.net"], "Subject: lost commit\r\n\r\nx\r\n")).AssertIs(451, "4.3.0");

        Assert.Empty(store.Messages);
        Assert.Equal(0, ((FailingGrainFactory)(object)grains).Calls);
        Assert.Contains(server.Logs, e => e.Level == LogLevel.Error && e.Message.StartsWith("Could not accept", StringComparison.Ordinal));
    }

    [Fact]
    public async Task WakeTimeout_is_validated_at_start()
    {
        var error = await Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(
            () => SmtpTestServer.StartAsync(new Dictionary<string, string?> { ["WakeTimeout"] = "00:02:00" }));
        Assert.Contains("Elemta:Smtp:WakeTimeout", error.Message, StringComparison.Ordinal);
    }

    private static GrainMessageAcceptor Acceptor(IServiceProvider services, RecordingAcceptor store, IGrainFactory? grains = null) =>
        ActivatorUtilities.CreateInstance<GrainMessageAcceptor>(services, new RecordingStore(store), grains ?? FailingGrainFactory.Create());

    /// <summary>The message store's commit, recorded (and failed on demand) by a <see cref="RecordingAcceptor"/>.</summary>
    private sealed class RecordingStore(RecordingAcceptor commits) : IMessageStore
    {
        public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
            commits.AcceptAsync(envelope, content, cancellationToken);

        public Task<MessageEnvelope?> ReadEnvelopeAsync(string messageId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task<byte[]?> ReadContentAsync(string messageId, CancellationToken cancellationToken) => throw new NotSupportedException();

        public Task DeleteContentAsync(string messageId, CancellationToken cancellationToken) => throw new NotSupportedException();
    }

    /// <summary>A cluster that cannot be reached: every grain factory call throws, as a call to a dead silo's grain does.</summary>
    public class FailingGrainFactory : DispatchProxy
    {
        private int _calls;

        public int Calls => Volatile.Read(ref _calls);

        public static IGrainFactory Create() => Create<IGrainFactory, FailingGrainFactory>();

        protected override object? Invoke(MethodInfo? targetMethod, object?[]? args)
        {
            Interlocked.Increment(ref _calls);
            throw new GrainCallFailedException("Test: the silo hosting this grain is gone.");
        }
    }

    /// <summary>What Orleans throws for a call that could not reach its grain.</summary>
    private sealed class GrainCallFailedException(string message) : Exception(message);
}
