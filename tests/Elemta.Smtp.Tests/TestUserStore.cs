using System.Collections.Concurrent;
using System.Collections.Immutable;
using System.Net;
using Elemta.Auth;
using Elemta.Contracts;

namespace Elemta.Smtp.Tests;

/// <summary>
/// The test's <see cref="IUserStore"/>: accounts in memory, with credentials made by the product's own code (low
/// PBKDF2 iterations to keep tests fast). <see cref="Fail"/> makes lookups throw, as an unreachable cluster would.
/// </summary>
public sealed class TestUserStore : IUserStore
{
    public const int Iterations = CredentialOptions.MinPasswordIterations;

    private readonly ConcurrentDictionary<string, UserAccount> _accounts = new(StringComparer.Ordinal);

    public bool Fail { get; set; }

    /// <summary>Adds an account with the sender role unless other roles are given.</summary>
    public UserAccount Add(string name, string password, string[]? allowedSenders = null, UserRole[]? roles = null)
    {
        var credentials = Passwords.CreateCredentials(password, new CredentialOptions { PasswordIterations = Iterations });
        var account = new UserAccount(name, [.. roles ?? [UserRole.Sender]], [.. allowedSenders ?? []], credentials, DateTimeOffset.UnixEpoch, DateTimeOffset.UnixEpoch);
        _accounts[name] = account;
        return account;
    }

    public Task<UserAccount?> FindAsync(string name, CancellationToken cancellationToken) =>
        Fail ? throw new TimeoutException("Test user store: the cluster is unavailable.")
             : Task.FromResult(_accounts.GetValueOrDefault(name));
}

/// <summary>
/// The test's <see cref="IAuthFailureLimiter"/>: counts failures per address and per name and locks either out after
/// <see cref="MaxFailures"/> (no refill: tests that need time use the grain-backed limiter against a real silo).
/// </summary>
public sealed class TestAuthFailureLimiter(int maxFailures = 1000) : IAuthFailureLimiter
{
    private readonly ConcurrentDictionary<string, int> _failures = new(StringComparer.Ordinal);

    public int MaxFailures { get; } = maxFailures;

    public int FailuresOf(string key) => _failures.GetValueOrDefault(key);

    public Task<(bool Allowed, TimeSpan RetryAfter)> CheckAsync(IPAddress client, string? user, CancellationToken cancellationToken)
    {
        var allowed = FailuresOf("ip:" + client) < MaxFailures && (user is null || FailuresOf("user:" + user) < MaxFailures);
        return Task.FromResult((allowed, allowed ? TimeSpan.Zero : TimeSpan.FromMinutes(1)));
    }

    public Task RecordFailureAsync(IPAddress client, string? user, CancellationToken cancellationToken)
    {
        _failures.AddOrUpdate("ip:" + client, 1, (_, n) => n + 1);
        if (user is not null)
        {
            _failures.AddOrUpdate("user:" + user, 1, (_, n) => n + 1);
        }

        return Task.CompletedTask;
    }
}
