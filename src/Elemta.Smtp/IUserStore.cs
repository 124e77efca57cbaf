using Elemta.Contracts;

namespace Elemta.Smtp;

/// <summary>Where the SMTP front-end finds accounts for AUTH. The default reads the cluster's <see cref="IUserGrain"/>s.</summary>
public interface IUserStore
{
    /// <summary>The account named <paramref name="name"/> (already in canonical lower case), or null when there is none.</summary>
    Task<UserAccount?> FindAsync(string name, CancellationToken cancellationToken);
}

/// <summary>Reads accounts from their <see cref="IUserGrain"/>, so every front-end sees a change at once.</summary>
public sealed class GrainUserStore(IGrainFactory grains) : IUserStore
{
    /// <inheritdoc />
    public Task<UserAccount?> FindAsync(string name, CancellationToken cancellationToken) =>
        grains.GetGrain<IUserGrain>(name).GetAsync().WaitAsync(cancellationToken);
}
