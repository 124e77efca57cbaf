using System.Collections.Immutable;

namespace Elemta.Contracts;

/// <summary>What an account may do. An account holds one or more roles.</summary>
[GenerateSerializer, Alias("elemta.UserRole")]
public enum UserRole
{
    /// <summary>Everything, including user and API key management.</summary>
    Admin = 0,

    /// <summary>Queue actions (retry, hold, delete) and everything a viewer may do.</summary>
    Operator = 1,

    /// <summary>Read-only access to the admin plane.</summary>
    Viewer = 2,

    /// <summary>SMTP submission (AUTH) only. Only accounts with this role may authenticate over SMTP.</summary>
    Sender = 3,
}

/// <summary>
/// An account: its login name, roles, the envelope senders it may use and its stored credentials. Nothing here is a
/// password or can be turned back into one without guessing it.
/// </summary>
/// <param name="Name">The login name, in lower case (the grain key).</param>
/// <param name="Roles">The account's roles.</param>
/// <param name="AllowedSenders">
/// MAIL FROM addresses an authenticated SMTP session of this account may use: <c>user@example.org</c> for one
/// address, <c>@example.org</c> for any address of a domain, <c>*</c> for any. Empty: the login name itself when it is
/// an address, otherwise nothing.
/// </param>
/// <param name="Credentials">The password verifiers.</param>
/// <param name="CreatedAt">When the account was created.</param>
/// <param name="ChangedAt">When the account or its credentials last changed.</param>
[GenerateSerializer, Immutable, Alias("elemta.UserAccount")]
public sealed record UserAccount(
    [property: Id(0)] string Name,
    [property: Id(1)] ImmutableArray<UserRole> Roles,
    [property: Id(2)] ImmutableArray<string> AllowedSenders,
    [property: Id(3)] UserCredentials Credentials,
    [property: Id(4)] DateTimeOffset CreatedAt,
    [property: Id(5)] DateTimeOffset ChangedAt)
{
    /// <summary>Whether the account holds <paramref name="role"/>.</summary>
    public bool Has(UserRole role) => !Roles.IsDefault && Roles.Contains(role);
}

/// <summary>
/// A password's verifiers, one per way of checking it: a PBKDF2 hash for mechanisms that send the password (PLAIN,
/// LOGIN), SCRAM-SHA-256 keys (RFC 5802, RFC 7677) and CRAM-MD5's HMAC-MD5 precomputed contexts (as Dovecot stores
/// them). Each carries its own salt and parameters so they can be raised for new passwords without breaking old ones.
/// </summary>
[GenerateSerializer, Immutable, Alias("elemta.UserCredentials")]
public sealed record UserCredentials(
    [property: Id(0)] PasswordHash Password,
    [property: Id(1)] ScramCredential? Scram,
    [property: Id(2)] CramMd5Credential? CramMd5);

/// <summary>A PBKDF2 password hash with its parameters.</summary>
/// <param name="Algorithm">The PRF, e.g. <c>PBKDF2-SHA256</c>.</param>
/// <param name="Iterations">The iteration count.</param>
/// <param name="Salt">A per-password random salt.</param>
/// <param name="Hash">The derived key.</param>
[GenerateSerializer, Immutable, Alias("elemta.PasswordHash")]
public sealed record PasswordHash(
    [property: Id(0)] string Algorithm,
    [property: Id(1)] int Iterations,
    [property: Id(2)] byte[] Salt,
    [property: Id(3)] byte[] Hash);

/// <summary>SCRAM-SHA-256 server keys (RFC 5802 §3): the salted password itself is not kept.</summary>
[GenerateSerializer, Immutable, Alias("elemta.ScramCredential")]
public sealed record ScramCredential(
    [property: Id(0)] int Iterations,
    [property: Id(1)] byte[] Salt,
    [property: Id(2)] byte[] StoredKey,
    [property: Id(3)] byte[] ServerKey);

/// <summary>
/// CRAM-MD5 (RFC 2195) precomputed HMAC-MD5 contexts: the MD5 chaining values after the key XOR ipad and key XOR opad
/// blocks. They let the server check a digest without the password; like any CRAM-MD5 secret they are enough to
/// answer a challenge, so they must be protected like the rest of the database.
/// </summary>
[GenerateSerializer, Immutable, Alias("elemta.CramMd5Credential")]
public sealed record CramMd5Credential(
    [property: Id(0)] byte[] InnerContext,
    [property: Id(1)] byte[] OuterContext);

/// <summary>Persisted state of a user grain.</summary>
[GenerateSerializer, Alias("elemta.UserGrainState")]
public sealed class UserGrainState
{
    /// <summary>The account; null when there is none under this name.</summary>
    [Id(0)] public UserAccount? Account { get; set; }
}
