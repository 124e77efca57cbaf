using System.Collections.Immutable;
using System.Security.Cryptography;
using System.Text;
using Elemta.Contracts;

namespace Elemta.Auth;

/// <summary>
/// Turns a password into the verifiers Elemta stores (<see cref="UserCredentials"/>) and checks a password against
/// them. Passwords are never stored; comparisons of secrets are constant-time.
/// </summary>
public static class Passwords
{
    /// <summary>The algorithm name stored with PBKDF2 hashes.</summary>
    public const string Pbkdf2Sha256 = "PBKDF2-SHA256";

    private const int SaltSize = 16;
    private const int HashSize = 32;

    /// <summary>Shortest password accepted for a new credential.</summary>
    public const int MinLength = 8;

    /// <summary>Longest password accepted: enough for any passphrase, short enough to bound the hashing work.</summary>
    public const int MaxLength = 1024;

    /// <summary>Creates every verifier of <paramref name="password"/> with fresh salts.</summary>
    public static UserCredentials CreateCredentials(string password, CredentialOptions options)
    {
        ArgumentNullException.ThrowIfNull(password);
        ArgumentNullException.ThrowIfNull(options);
        var bytes = Encoding.UTF8.GetBytes(password);
        try
        {
            var salt = RandomNumberGenerator.GetBytes(SaltSize);
            var hash = new PasswordHash(Pbkdf2Sha256, options.PasswordIterations, salt, Rfc2898DeriveBytes.Pbkdf2(bytes, salt, options.PasswordIterations, HashAlgorithmName.SHA256, HashSize));
            return new UserCredentials(hash, ScramSha256.CreateCredential(bytes, options.ScramIterations), options.StoreCramMd5 ? CramMd5.CreateCredential(bytes) : null);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>Whether <paramref name="password"/> matches <paramref name="hash"/>, in time independent of where they differ.</summary>
    public static bool Verify(PasswordHash hash, string password)
    {
        ArgumentNullException.ThrowIfNull(hash);
        ArgumentNullException.ThrowIfNull(password);
        if (hash.Algorithm != Pbkdf2Sha256 || password.Length > MaxLength)
        {
            return false;
        }

        var bytes = Encoding.UTF8.GetBytes(password);
        try
        {
            var candidate = Rfc2898DeriveBytes.Pbkdf2(bytes, hash.Salt, hash.Iterations, HashAlgorithmName.SHA256, hash.Hash.Length);
            return CryptographicOperations.FixedTimeEquals(candidate, hash.Hash);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(bytes);
        }
    }

    /// <summary>A hash of a random password with these options, to spend the same time on unknown users as on known ones.</summary>
    public static PasswordHash Decoy(CredentialOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var salt = RandomNumberGenerator.GetBytes(SaltSize);
        return new PasswordHash(Pbkdf2Sha256, options.PasswordIterations, salt, RandomNumberGenerator.GetBytes(HashSize));
    }

    /// <summary>The reason <paramref name="password"/> cannot be set, or null when it can.</summary>
    public static string? Check(string password)
    {
        ArgumentNullException.ThrowIfNull(password);
        return password.Length < MinLength ? $"password must be at least {MinLength} characters"
            : password.Length > MaxLength ? $"password must be at most {MaxLength} characters"
            : password.Any(char.IsControl) ? "password must not contain control characters"
            : null;
    }

    /// <summary>A random password of 24 characters from an alphabet without look-alikes (about 138 bits).</summary>
    public static string Generate()
    {
        const string alphabet = "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
        return RandomNumberGenerator.GetString(alphabet, 24);
    }

    /// <summary>
    /// The canonical form of a login name (lower case, trimmed), or null with <paramref name="error"/> when it is not
    /// acceptable: 1 to 128 characters of letters, digits and <c>. _ - + @</c>.
    /// </summary>
    public static string? NormalizeUserName(string? name, out string? error)
    {
        var trimmed = (name ?? string.Empty).Trim();
        if (trimmed.Length is 0 or > 128)
        {
            error = "user name must be 1 to 128 characters";
            return null;
        }

        foreach (var c in trimmed)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '.' or '_' or '-' or '+' or '@'))
            {
                error = $"user name contains '{c}'; use letters, digits and . _ - + @";
                return null;
            }
        }

        error = null;
        return trimmed.ToLowerInvariant();
    }

    /// <summary>Parses role names (<c>admin</c>, <c>operator</c>, <c>viewer</c>, <c>sender</c>), without duplicates.</summary>
    public static ImmutableArray<UserRole> ParseRoles(IEnumerable<string> names)
    {
        ArgumentNullException.ThrowIfNull(names);
        var roles = ImmutableArray.CreateBuilder<UserRole>();
        foreach (var name in names)
        {
            if (!Enum.TryParse<UserRole>(name, ignoreCase: true, out var role) || !Enum.IsDefined(role) || char.IsDigit(name[0]))
            {
                throw new FormatException($"unknown role '{name}' (admin, operator, viewer, sender)");
            }

            if (!roles.Contains(role))
            {
                roles.Add(role);
            }
        }

        return roles.ToImmutable();
    }

    /// <summary>The lower-case name of a role, as the CLI and the docs write it.</summary>
    public static string RoleName(UserRole role) => role.ToString().ToLowerInvariant();
}
