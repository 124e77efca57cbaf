using Elemta.Storage.Sqlite;

namespace Elemta.Storage.Tests;

/// <summary>
/// Holds the group-commit writer's thread inside a write until <see cref="Release"/>, so that the writes queued
/// meanwhile are all taken as the next batch. Disposing releases it, so a failing test cannot wedge the writer.
/// </summary>
internal sealed class WriterGate : IDisposable
{
    private readonly ManualResetEventSlim _release = new();
    private readonly TaskCompletionSource _held = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public WriterGate(SqliteDatabase database)
    {
        Completion = database.ExecuteAsync(_ =>
        {
            _held.TrySetResult();
            // The writer runs on its own thread: blocking it here is what holds the queue back.
            _release.Wait(TimeSpan.FromSeconds(60));
        }, CancellationToken.None);
    }

    /// <summary>Completes once the writer is inside the gate's write.</summary>
    public Task HeldAsync => _held.Task.WaitAsync(TimeSpan.FromSeconds(60));

    /// <summary>The gate's own write.</summary>
    public Task Completion { get; }

    public void Release() => _release.Set();

    public void Dispose()
    {
        _release.Set();
        // The writer may still be inside Wait(); it returns at once now and the event stays usable until then.
    }
}
