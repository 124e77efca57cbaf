using Elemta.Storage.Relational;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Storage;

/// <summary>
/// The free space left for the queue on the embedded database's disk, sampled once a second so that the SMTP
/// server can ask at every MAIL FROM without a system call. With PostgreSQL nothing is watched here and there is
/// always room; a full database server is recognised from its error instead (<see cref="IsOutOfSpace"/>).
/// </summary>
public sealed partial class QueueSpace : IDisposable
{
    private static readonly TimeSpan SamplePeriod = TimeSpan.FromSeconds(1);
    private readonly StoreDatabase _database;
    private readonly string? _directory;
    private readonly long _reserve;
    private readonly ITimer? _timer;
    private readonly ILogger<QueueSpace> _logger;
    private long _available = long.MaxValue;
    private int _short;

    /// <summary>Watches <see cref="StoreDatabase.LocalDirectory"/> of <paramref name="database"/>, if it has one and a reserve is set.</summary>
    public QueueSpace(StoreDatabase database, IOptions<StorageOptions> options, TimeProvider timeProvider, ILogger<QueueSpace> logger)
    {
        ArgumentNullException.ThrowIfNull(database);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(timeProvider);
        _database = database;
        _logger = logger;
        _reserve = options.Value.MinFreeSpace;
        _directory = _reserve > 0 ? database.LocalDirectory : null;
        if (_directory is not null)
        {
            Sample();
            _timer = timeProvider.CreateTimer(static state => ((QueueSpace)state!).Sample(), this, SamplePeriod, SamplePeriod);
        }
    }

    /// <summary>Whether free space is watched at all (the embedded database with a reserve above 0).</summary>
    public bool IsMonitored => _directory is not null;

    /// <summary>The free octets last sampled (<see cref="long.MaxValue"/> when not watched).</summary>
    public long Available => Interlocked.Read(ref _available);

    /// <summary>Whether a message of <paramref name="octets"/> fits and still leaves the reserve free.</summary>
    public bool HasRoomFor(long octets) => _directory is null || Available - Math.Max(0, octets) >= _reserve;

    /// <summary>
    /// Whether a failed store write failed because the disk is full. Takes a new sample at once, so that the next
    /// MAIL FROM is refused without waiting for the timer.
    /// </summary>
    public bool IsOutOfSpace(Exception exception)
    {
        if (!_database.IsOutOfSpace(exception))
        {
            return false;
        }

        Sample();
        return true;
    }

    /// <inheritdoc />
    public void Dispose() => _timer?.Dispose();

    private void Sample()
    {
        long available;
        try
        {
            // statvfs on any path of the file system (DriveInfo takes a path on Unix, not only a mount point).
            available = new DriveInfo(_directory!).AvailableFreeSpace;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
        {
            // The directory is not there yet (created by the first migration): nothing to refuse for.
            return;
        }

        Interlocked.Exchange(ref _available, available);
        var isShort = available < _reserve ? 1 : 0;
        if (Interlocked.Exchange(ref _short, isShort) != isShort)
        {
            if (isShort == 1)
            {
                LogShort(_directory!, available, _reserve);
            }
            else
            {
                LogRecovered(_directory!, available);
            }
        }
    }

    [LoggerMessage(EventId = 1401, Level = LogLevel.Warning, Message = "Queue disk {Directory} has {Available} octets free, below the reserve of {Reserve} (Elemta:Storage:MinFreeSpace): new mail is refused with 452 4.3.1 until space is freed")]
    private partial void LogShort(string directory, long available, long reserve);

    [LoggerMessage(EventId = 1402, Level = LogLevel.Information, Message = "Queue disk {Directory} has {Available} octets free again: accepting mail")]
    private partial void LogRecovered(string directory, long available);
}
