using System.Collections.Immutable;
using Elemta.Contracts;
using Elemta.Storage;
using Microsoft.Extensions.Logging;

namespace Elemta.Grains;

/// <summary>
/// Every API key in one small persisted state (keys are few: one per tool or person). Changes are written before the
/// call returns and recorded in the audit log. Revoked keys are kept, so their history stays visible.
/// </summary>
public sealed partial class ApiKeyRegistryGrain(
    [PersistentState("api-keys", GrainStorage.ProviderName)] IPersistentState<ApiKeyRegistryState> state,
    IAuditLog audit,
    TimeProvider timeProvider,
    ILogger<ApiKeyRegistryGrain> logger) : Grain, IApiKeyRegistryGrain
{
    /// <inheritdoc />
    public async Task<bool> CreateAsync(ApiKeyRecord key, string actor)
    {
        ArgumentNullException.ThrowIfNull(key);
        ArgumentException.ThrowIfNullOrEmpty(actor);
        if (state.State.Keys.Any(k => k.Id == key.Id))
        {
            return false;
        }

        state.State.Keys = state.State.Keys.Add(key);
        await state.WriteStateAsync();
        var expiry = key.ExpiresAt is { } at ? at.ToString("O", System.Globalization.CultureInfo.InvariantCulture) : "never";
        await AuditAsync(actor, "apikey.create", key.Id, $"name={key.Name} role={key.Role.ToString().ToLowerInvariant()} expires={expiry}");
        LogChanged(key.Id, "created", actor);
        return true;
    }

    /// <inheritdoc />
    public Task<ImmutableArray<ApiKeyRecord>> ListAsync() => Task.FromResult(state.State.Keys);

    /// <inheritdoc />
    public Task<ApiKeyRecord?> FindAsync(string id) => Task.FromResult(state.State.Keys.FirstOrDefault(k => k.Id == id));

    /// <inheritdoc />
    public async Task<bool> RevokeAsync(string id, string actor)
    {
        ArgumentException.ThrowIfNullOrEmpty(actor);
        var index = state.State.Keys.IndexOf(state.State.Keys.FirstOrDefault(k => k.Id == id && k.RevokedAt is null)!);
        if (index < 0)
        {
            return false;
        }

        state.State.Keys = state.State.Keys.SetItem(index, state.State.Keys[index] with { RevokedAt = timeProvider.GetUtcNow() });
        await state.WriteStateAsync();
        await AuditAsync(actor, "apikey.revoke", id, "revoked");
        LogChanged(id, "revoked", actor);
        return true;
    }

    private Task AuditAsync(string actor, string action, string subject, string detail) =>
        audit.AppendAsync(new AuditRecord(timeProvider.GetUtcNow(), actor, action, subject, detail), CancellationToken.None);

    [LoggerMessage(Level = LogLevel.Information, Message = "API key {Id} {Change} by {Actor}")]
    private partial void LogChanged(string id, string change, string actor);
}
