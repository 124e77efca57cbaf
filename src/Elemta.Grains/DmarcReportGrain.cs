using System.Collections.Immutable;
using Elemta.Contracts;

namespace Elemta.Grains;

/// <summary>
/// A policy domain's DMARC report data for one day. Front-ends hand over rows already counted; the state is written at
/// most every few seconds (and when the activation ends), not once per message: report data may lose the last seconds
/// in a crash, which RFC 7489's best-effort reports allow, and a busy domain costs no write per message.
/// </summary>
public sealed class DmarcReportGrain(
    [PersistentState("dmarc-report", GrainStorage.ProviderName)] IPersistentState<DmarcReportState> state) : Grain, IDmarcReportGrain
{
    private static readonly TimeSpan FlushDelay = TimeSpan.FromSeconds(5);
    private IGrainTimer? _flush;
    private bool _dirty;

    /// <inheritdoc />
    public Task RecordAsync(string policyRecord, ImmutableArray<DmarcReportCount> rows)
    {
        state.State.PolicyRecord = policyRecord;
        var stored = state.State.Rows;
        foreach (var (row, count) in rows)
        {
            var at = stored.FindIndex(r => r.Row == row);
            if (at < 0)
            {
                stored.Add(new DmarcReportCount(row, count));
            }
            else
            {
                stored[at] = stored[at] with { Count = stored[at].Count + count };
            }
        }

        _dirty = true;
        _flush ??= this.RegisterGrainTimer(FlushAsync, new GrainTimerCreationOptions(FlushDelay, Timeout.InfiniteTimeSpan));
        return Task.CompletedTask;
    }

    /// <inheritdoc />
    public Task<DmarcReportData> GetAsync() =>
        Task.FromResult(new DmarcReportData(state.State.PolicyRecord, [.. state.State.Rows]));

    /// <inheritdoc />
    public override async Task OnDeactivateAsync(DeactivationReason reason, CancellationToken cancellationToken)
    {
        await FlushAsync(cancellationToken);
        await base.OnDeactivateAsync(reason, cancellationToken);
    }

    private async Task FlushAsync(CancellationToken cancellationToken)
    {
        _flush?.Dispose();
        _flush = null;
        if (_dirty)
        {
            _dirty = false;
            await state.WriteStateAsync(cancellationToken);
        }
    }
}
