using System.Threading.Channels;
using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Sqlite;

/// <summary>
/// Serialises all of Elemta's own writes through one connection and commits them in groups: while one commit is
/// being synced to disk, new writes queue up and share the next commit. Under concurrency this turns N fsyncs into
/// one, as a database's group commit does; with a single writer it costs one commit per write, as before.
/// </summary>
internal sealed class SqliteGroupCommitWriter : IAsyncDisposable
{
    // Bounds the work (and the latency of the first write) in one transaction.
    private const int MaxBatch = 512;

    private readonly SqliteConnection _connection;
    private readonly Channel<WriteOperation> _queue = Channel.CreateUnbounded<WriteOperation>(new UnboundedChannelOptions { SingleReader = true });
    private readonly SqliteCommandCache _commands;
    private readonly Task _loop;

    public SqliteGroupCommitWriter(SqliteConnection connection)
    {
        _connection = connection;
        _commands = new SqliteCommandCache(connection);
        // One dedicated thread: SQLite calls are synchronous, and one writer is all SQLite allows anyway.
        _loop = Task.Factory.StartNew(RunAsync, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default).Unwrap();
    }

    /// <summary>Queues a write and completes when the transaction holding it has committed.</summary>
    public Task ExecuteAsync(Action<WriteContext> apply, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var operation = new WriteOperation(apply);
        ObjectDisposedException.ThrowIf(!_queue.Writer.TryWrite(operation), this);

        // Cancellation stops the caller waiting, not the write: once queued it will be committed.
        return operation.Completion.Task.WaitAsync(cancellationToken);
    }

    private async Task RunAsync()
    {
        var batch = new List<WriteOperation>(MaxBatch);
        var context = new WriteContext(this);
        while (await _queue.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            batch.Clear();
            while (batch.Count < MaxBatch && _queue.Reader.TryRead(out var operation))
            {
                batch.Add(operation);
            }

            try
            {
                Commit(batch, context);
                foreach (var operation in batch)
                {
                    operation.Completion.TrySetResult();
                }
            }
            catch (Exception) when (batch.Count > 1)
            {
                // One bad write must not fail its neighbours: replay them one transaction each.
                foreach (var operation in batch)
                {
                    try
                    {
                        Commit([operation], context);
                        operation.Completion.TrySetResult();
                    }
                    catch (Exception ex)
                    {
                        operation.Completion.TrySetException(ex);
                    }
                }
            }
            catch (Exception ex)
            {
                batch[0].Completion.TrySetException(ex);
            }
        }
    }

    private void Commit(List<WriteOperation> batch, WriteContext context)
    {
        using var transaction = _connection.BeginTransaction(deferred: false);
        context.Transaction = transaction;
        try
        {
            foreach (var operation in batch)
            {
                operation.Apply(context);
            }

            transaction.Commit();
        }
        finally
        {
            context.Transaction = null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        await _loop.ConfigureAwait(false);
        await _commands.DisposeCommandsAsync().ConfigureAwait(false);
        await _connection.DisposeAsync().ConfigureAwait(false);
    }

    private sealed class WriteOperation(Action<WriteContext> apply)
    {
        public Action<WriteContext> Apply { get; } = apply;

        public TaskCompletionSource Completion { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>What a queued write sees: prepared commands bound to the open transaction.</summary>
    internal sealed class WriteContext(SqliteGroupCommitWriter owner)
    {
        public SqliteTransaction? Transaction { get; set; }

        /// <summary>The writer's connection, for what commands cannot do (incremental BLOB I/O), within <see cref="Transaction"/>.</summary>
        public SqliteConnection Connection => owner._connection;

        /// <summary>A cached (prepared once) command for <paramref name="sql"/>, parameters cleared.</summary>
        public SqliteCommand Command(string sql)
        {
            var command = owner._commands.Get(sql);
            command.Transaction = Transaction;
            return command;
        }
    }
}
