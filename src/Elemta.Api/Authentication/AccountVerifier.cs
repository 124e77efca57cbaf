using System.Collections.Concurrent;
using System.Security.Cryptography;
using System.Text;
using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.Extensions.Options;

namespace Elemta.Api.Authentication;

/// <summary>
/// Checks an account's password as SMTP AUTH PLAIN does (the PBKDF2 hash in the account's <see cref="IUserGrain"/>),
/// with a short memory of recent successes.
/// </summary>
/// <remarks>
/// HTTP Basic sends the password with every request, and one PBKDF2 check at the default 600,000 iterations costs
/// a few hundred milliseconds of CPU: a script paging through the queue would spend most of its time hashing. So a
/// success is remembered for <see cref="Lifetime"/> as a keyed hash of the password (the key is random per process, so
/// the memory cannot be used to test guesses offline) together with the stored hash it was checked against; a changed
/// password or a deleted account no longer matches, because the account is read again on every request.
/// </remarks>
public sealed class AccountVerifier(IGrainFactory grains, IOptions<CredentialOptions> options, TimeProvider timeProvider)
{
    /// <summary>How long a verified password is accepted without hashing it again.</summary>
    public static readonly TimeSpan Lifetime = TimeSpan.FromMinutes(2);

    private const int MaxRemembered = 1024;
    private readonly byte[] _key = RandomNumberGenerator.GetBytes(32);
    private readonly ConcurrentDictionary<string, Remembered> _recent = new(StringComparer.Ordinal);
    private readonly Lazy<PasswordHash> _decoy = new(() => Passwords.Decoy(options.Value));

    /// <summary>The account named <paramref name="name"/> (canonical) when <paramref name="password"/> is its password, otherwise null.</summary>
    public async Task<UserAccount?> VerifyAsync(string name, string password, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(password);
        var account = await grains.GetGrain<IUserGrain>(name).GetAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        var stored = account?.Credentials.Password;
        var keyed = HMACSHA256.HashData(_key, Encoding.UTF8.GetBytes(password));
        var now = timeProvider.GetUtcNow();
        if (stored is not null && _recent.TryGetValue(name, out var remembered) && remembered.Until > now
            && CryptographicOperations.FixedTimeEquals(remembered.StoredHash, stored.Hash)
            && CryptographicOperations.FixedTimeEquals(remembered.KeyedPassword, keyed))
        {
            return account;
        }

        // An unknown name costs the same hashing as a known one, so timing does not tell which names exist.
        if (!Passwords.Verify(stored ?? _decoy.Value, password) || account is null)
        {
            return null;
        }

        if (_recent.Count >= MaxRemembered)
        {
            // Rare (more distinct accounts signing in within two minutes than this): start afresh rather than track age.
            _recent.Clear();
        }

        _recent[name] = new Remembered(keyed, stored!.Hash, now + Lifetime);
        return account;
    }

    private sealed record Remembered(byte[] KeyedPassword, byte[] StoredHash, DateTimeOffset Until);
}
