using Elemta.Contracts;

namespace Elemta.Grains;

/// <summary>
/// A greylisting triplet (RFC 6647 §2.2), persisted in the grain storage every Elemta grain uses. A write happens
/// only when the triplet's state changes (first seen, first pass, or a pass that extends the lifetime by more than a
/// day), so a busy passed triplet costs no write per message.
/// </summary>
public sealed class GreylistGrain(
    [PersistentState("greylist", GrainStorage.ProviderName)] IPersistentState<GreylistState> state,
    TimeProvider timeProvider) : Grain, IGreylistGrain
{
    /// <inheritdoc />
    public async Task<GreylistDecision> CheckAsync(TimeSpan delay, TimeSpan retryWindow, TimeSpan passedLifetime)
    {
        var now = timeProvider.GetUtcNow();
        var current = state.State;
        if (current.LastPassed is { } passed && now - passed <= passedLifetime)
        {
            if (now - passed > TimeSpan.FromDays(1))
            {
                current.LastPassed = now;
                await state.WriteStateAsync();
            }

            return new GreylistDecision(true, TimeSpan.Zero);
        }

        if (current.FirstSeen is not { } first || now - first > retryWindow || current.LastPassed is not null)
        {
            // A new triplet, one that came back too late, or one whose pass expired: a new round.
            current.FirstSeen = now;
            current.LastPassed = null;
            await state.WriteStateAsync();
            return new GreylistDecision(false, delay);
        }

        if (now - first < delay)
        {
            return new GreylistDecision(false, delay - (now - first));
        }

        current.LastPassed = now;
        await state.WriteStateAsync();
        return new GreylistDecision(true, TimeSpan.Zero);
    }
}
