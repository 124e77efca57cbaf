namespace Elemta.Api.Users;

/// <summary>An account as the API shows it: never its credentials.</summary>
/// <param name="Name">The login name (lower case).</param>
/// <param name="Roles"><c>admin</c>, <c>operator</c>, <c>viewer</c>, <c>sender</c>.</param>
/// <param name="AllowedSenders">MAIL FROM addresses an SMTP session of the account may use (<c>user@domain</c>, <c>@domain</c>, <c>*</c>).</param>
/// <param name="CreatedAt">When it was created.</param>
/// <param name="ChangedAt">When it or its password last changed.</param>
public sealed record UserModel(string Name, IReadOnlyList<string> Roles, IReadOnlyList<string> AllowedSenders, DateTimeOffset CreatedAt, DateTimeOffset ChangedAt);

/// <summary>The body of <c>POST /api/users</c>.</summary>
/// <param name="Name">1 to 128 letters, digits and <c>. _ - + @</c>; stored in lower case.</param>
/// <param name="Roles">At least one role; <c>sender</c> when absent.</param>
/// <param name="AllowedSenders">See <see cref="UserModel.AllowedSenders"/>; none means the login name when it is an address.</param>
/// <param name="Password">8 to 1024 characters; when absent a random one is generated and returned once.</param>
public sealed record CreateUserRequest(string? Name, IReadOnlyList<string>? Roles, IReadOnlyList<string>? AllowedSenders, string? Password);

/// <summary>The body of <c>PUT /api/users/{name}</c>: what is given replaces what the account has.</summary>
/// <param name="Roles">The new roles (at least one); unchanged when absent.</param>
/// <param name="AllowedSenders">The new allowed senders; unchanged when absent.</param>
public sealed record UpdateUserRequest(IReadOnlyList<string>? Roles, IReadOnlyList<string>? AllowedSenders);

/// <summary>The body of <c>POST /api/users/{name}/password</c>, which may be empty.</summary>
/// <param name="Password">The new password; when absent a random one is generated and returned once.</param>
public sealed record PasswordRequest(string? Password);

/// <summary>An account just created or given a new password.</summary>
/// <param name="User">The account.</param>
/// <param name="Password">The generated password, shown this once; null when the request gave one.</param>
public sealed record UserWithPasswordModel(UserModel User, string? Password);
