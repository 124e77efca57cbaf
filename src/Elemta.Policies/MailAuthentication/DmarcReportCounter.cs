using System.Collections.Concurrent;
using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.MailAuth.Dmarc;

namespace Elemta.Policies.MailAuthentication;

/// <summary>
/// Counts DMARC report rows in memory and hands them to their <see cref="IDmarcReportGrain"/> every
/// <see cref="Interval"/>: one grain call per policy domain and interval instead of one per message, which was
/// measurable on the acceptance path. Rows not yet handed over are lost if the process dies; aggregate reports are
/// best effort (RFC 7489 §7.2), and the interval bounds the loss.
/// </summary>
internal sealed class DmarcReportCounter : IAsyncDisposable
{
    /// <summary>How often counted rows are handed over.</summary>
    public static readonly TimeSpan Interval = TimeSpan.FromSeconds(5);

    private readonly IGrainFactory _grains;
    private readonly ITimer _timer;
    private readonly SemaphoreSlim _flushing = new(1, 1);
    private ConcurrentDictionary<(string Grain, DmarcReportEntry Row), long> _counts = new();
    // The record last seen per grain, as parsed: written out as text only when handed over, not once per message.
    private readonly ConcurrentDictionary<string, DmarcRecord> _records = new(StringComparer.Ordinal);

    public DmarcReportCounter(IGrainFactory grains, TimeProvider time)
    {
        _grains = grains;
        _timer = time.CreateTimer(static state => _ = ((DmarcReportCounter)state!).FlushAsync(), this, Interval, Interval);
    }

    /// <summary>Counts one message's row for a policy domain's grain.</summary>
    public void Count(string grain, DmarcRecord policyRecord, DmarcReportEntry row)
    {
        _records[grain] = policyRecord;
        _counts.AddOrUpdate((grain, row), 1, static (_, count) => count + 1);
    }

    /// <summary>Hands every counted row to its grain; rows a failed call could not hand over are counted again for the next round.</summary>
    public async Task FlushAsync()
    {
        if (!await _flushing.WaitAsync(0).ConfigureAwait(false))
        {
            return;
        }

        try
        {
            var taken = Interlocked.Exchange(ref _counts, new ConcurrentDictionary<(string Grain, DmarcReportEntry Row), long>());
            foreach (var group in taken.GroupBy(e => e.Key.Grain))
            {
                var rows = group.Select(e => new DmarcReportCount(e.Key.Row, e.Value)).ToImmutableArray();
                try
                {
                    await _grains.GetGrain<IDmarcReportGrain>(group.Key).RecordAsync(PolicyText(_records[group.Key]), rows).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    foreach (var (key, count) in group)
                    {
                        _counts.AddOrUpdate(key, count, (_, current) => current + count);
                    }
                }
            }
        }
        finally
        {
            _flushing.Release();
        }
    }

    /// <summary>The record as published, rebuilt from its parsed tags (what the report's policy_published needs).</summary>
    internal static string PolicyText(DmarcRecord record)
    {
        var text = new System.Text.StringBuilder("v=DMARC1; p=").Append(record.Policy.Name());
        if (record.SubdomainPolicy is { } sp)
        {
            text.Append("; sp=").Append(sp.Name());
        }

        text.Append("; adkim=").Append(record.DkimAlignment.Name()).Append("; aspf=").Append(record.SpfAlignment.Name())
            .Append("; pct=").Append(record.Percent.ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Append("; fo=").Append(string.Join(':', record.FailureOptions));
        return text.ToString();
    }

    public async ValueTask DisposeAsync()
    {
        await _timer.DisposeAsync().ConfigureAwait(false);
        await FlushAsync().ConfigureAwait(false);
        _flushing.Dispose();
    }
}
