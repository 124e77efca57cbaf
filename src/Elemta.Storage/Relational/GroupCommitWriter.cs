using System.Diagnostics;
using System.Threading.Channels;
using Elemta.Storage.Observability;

namespace Elemta.Storage.Relational;

/// <summary>
/// Queues <see cref="WriteBatch"/>es and commits them in groups: while one commit is on its way to disk, new batches
/// queue up and share the next one. Under concurrency N fsyncs become one, as a database's own group commit does;
/// with a single writer each batch costs one commit. The provider says how a group is committed.
/// </summary>
/// <remarks>
/// Hand-written because no library offers a group commit over ADO.NET: Npgsql's batching sends one caller's
/// statements in one round trip, not several callers' in one transaction, and SQLite has one writer at a time anyway.
/// </remarks>
internal abstract class GroupCommitWriter : IAsyncDisposable
{
    private readonly Channel<WriteBatch> _queue = Channel.CreateUnbounded<WriteBatch>(new UnboundedChannelOptions { SingleReader = false });
    private readonly int _maxBatches;
    private Task[] _loops = [];

    /// <param name="maxBatches">Most batches in one transaction: bounds its work and the latency of the first one.</param>
    protected GroupCommitWriter(int maxBatches) => _maxBatches = maxBatches;

    /// <summary>Starts <paramref name="loops"/> commit loops (one for SQLite, a few for PostgreSQL), each on its own thread when asked.</summary>
    /// <remarks>
    /// A dedicated loop waits for work by blocking its own thread, and a provider that commits synchronously (SQLite,
    /// whose commit ends in an fsync) therefore keeps the whole loop on that thread. An awaited wait would move the
    /// loop to the thread pool after its first batch, and every fsync would then hold a pool thread that sessions and
    /// grains need (on a 2-core machine, half the pool) and make the pool inject threads.
    /// </remarks>
    protected void Start(int loops, bool dedicatedThreads) =>
        _loops = [.. Enumerable.Range(0, loops).Select(_ => dedicatedThreads
            ? Task.Factory.StartNew(() => RunAsync(blocking: true), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap()
            : Task.Run(() => RunAsync(blocking: false)))];

    /// <summary>Queues <paramref name="batch"/>; completes when the transaction holding it has committed.</summary>
    public Task WriteAsync(WriteBatch batch, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        ObjectDisposedException.ThrowIf(!_queue.Writer.TryWrite(batch), this);

        // Cancellation stops the caller waiting, not the write: once queued it will be committed.
        return batch.Completion.Task.WaitAsync(cancellationToken);
    }

    /// <summary>Commits every batch of <paramref name="group"/> in one transaction, or throws and commits none.</summary>
    protected abstract ValueTask CommitAsync(List<WriteBatch> group);

    private async Task RunAsync(bool blocking)
    {
        var group = new List<WriteBatch>(_maxBatches);
        var single = new List<WriteBatch>(1);
        while (blocking ? WaitBlocking() : await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            group.Clear();
            while (group.Count < _maxBatches && _queue.Reader.TryRead(out var batch))
            {
                group.Add(batch);
            }

            if (group.Count == 0)
            {
                continue; // another loop took them
            }

            try
            {
                var started = Stopwatch.GetTimestamp();
                await CommitAsync(group).ConfigureAwait(false);
                StorageMetrics.Committed(group.Count, Stopwatch.GetElapsedTime(started));
                foreach (var batch in group)
                {
                    batch.Completion.TrySetResult();
                }
            }
            catch (Exception) when (group.Count > 1)
            {
                StorageMetrics.CommitFailed();
                // One bad batch must not fail its neighbours: replay them one transaction each.
                foreach (var batch in group)
                {
                    single.Clear();
                    single.Add(batch);
                    try
                    {
                        await CommitAsync(single).ConfigureAwait(false);
                        batch.Completion.TrySetResult();
                    }
                    catch (Exception ex)
                    {
                        StorageMetrics.CommitFailed();
                        batch.Completion.TrySetException(ex);
                    }
                }
            }
            catch (Exception ex)
            {
                StorageMetrics.CommitFailed();
                group[0].Completion.TrySetException(ex);
            }
        }
    }

    /// <summary>Waits on the calling (dedicated) thread until a batch is queued; false once the queue is completed.</summary>
    private bool WaitBlocking()
    {
        var wait = _queue.Reader.WaitToReadAsync();
        return wait.IsCompletedSuccessfully ? wait.Result : wait.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Stops taking batches, commits what is queued, and waits for the loops.</summary>
    public virtual async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await Task.WhenAll(_loops).ConfigureAwait(false);
    }
}
