using System.Collections.Immutable;
using System.Diagnostics.CodeAnalysis;
using System.Security.Claims;
using Elemta.Api.Administration;
using Elemta.Api.Authentication;
using Elemta.Api.Problems;
using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;

namespace Elemta.Api.Users;

/// <summary>
/// <c>/api/users</c> (admin): accounts and their roles, as the CLI's <c>user</c> commands manage them, through the
/// same grains, which record each change in the audit log with the caller as actor.
/// </summary>
internal static class UserEndpoints
{
    public static void MapUsers(this RouteGroupBuilder api)
    {
        var users = api.MapGroup("/users").WithTags("Users").RequireAuthorization(ElemtaPolicies.Administer);
        users.MapGet("", ListAsync).WithName("ListUsers");
        users.MapPost("", CreateAsync).WithName("CreateUser").WithSummary("Creates an account; a generated password is returned once.");
        users.MapGet("/{name}", GetAsync).WithName("GetUser");
        users.MapPut("/{name}", UpdateAsync).WithName("UpdateUser").WithSummary("Replaces the account's roles and/or allowed senders.");
        users.MapPost("/{name}/password", SetPasswordAsync).WithName("ResetPassword").WithSummary("Sets a new password; a generated one is returned once.");
        users.MapDelete("/{name}", DeleteAsync).WithName("DeleteUser");
    }

    private static async Task<Ok<ImmutableArray<UserModel>>> ListAsync(UserAdministration users, CancellationToken ct) =>
        TypedResults.Ok(await users.ListAsync(ct));

    private static async Task<Results<Ok<UserModel>, ProblemHttpResult>> GetAsync(string name, IGrainFactory grains, CancellationToken ct)
    {
        if (!TryName(name, out var key, out var problem))
        {
            return problem;
        }

        var account = await grains.GetGrain<IUserGrain>(key).GetAsync().WaitAsync(ct);
        return account is null ? NoUser(key) : TypedResults.Ok(Model(account));
    }

    private static async Task<Results<Created<UserWithPasswordModel>, ProblemHttpResult>> CreateAsync(
        CreateUserRequest? body, IGrainFactory grains, UserAdministration users, ClaimsPrincipal user, CancellationToken ct)
    {
        if (body?.Name is null)
        {
            return ApiProblems.BadRequest("The body must name the account: {\"name\": \"…\", \"roles\": [\"viewer\"]}.");
        }

        var key = Passwords.NormalizeUserName(body.Name, out var nameError);
        if (key is null)
        {
            return ApiProblems.Invalid(nameError!);
        }

        if (!TryRoles(body.Roles ?? ["sender"], out var roles, out var problem) || !TrySenders(body.AllowedSenders, out var senders, out problem)
            || !TryPassword(body.Password, out problem))
        {
            return problem;
        }

        var password = body.Password ?? Passwords.Generate();
        var grain = grains.GetGrain<IUserGrain>(key);
        if (!await users.CreateAsync(key, roles, senders, password, ElemtaAuthentication.ActorOf(user), ct))
        {
            return ApiProblems.Conflict($"User '{key}' already exists.");
        }

        var account = await grain.GetAsync().WaitAsync(ct);
        return TypedResults.Created($"/api/users/{Uri.EscapeDataString(key)}", new UserWithPasswordModel(Model(account!), body.Password is null ? password : null));
    }

    private static async Task<Results<Ok<UserModel>, ProblemHttpResult>> UpdateAsync(
        string name, UpdateUserRequest? body, IGrainFactory grains, UserAdministration users, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!TryName(name, out var key, out var problem))
        {
            return problem;
        }

        if (body is null || (body.Roles is null && body.AllowedSenders is null))
        {
            return ApiProblems.BadRequest("The body must give roles, allowedSenders or both.");
        }

        var grain = grains.GetGrain<IUserGrain>(key);
        var account = await grain.GetAsync().WaitAsync(ct);
        if (account is null)
        {
            return NoUser(key);
        }

        var roles = account.Roles;
        if (body.Roles is not null && !TryRoles(body.Roles, out roles, out problem))
        {
            return problem;
        }

        var senders = account.AllowedSenders;
        if (body.AllowedSenders is not null && !TrySenders(body.AllowedSenders, out senders, out problem))
        {
            return problem;
        }

        if (account.Has(UserRole.Admin) && !roles.Contains(UserRole.Admin) && !await users.AnotherAdminExistsAsync(key, ct))
        {
            return ApiProblems.Conflict($"'{key}' is the only admin; make another account admin first.");
        }

        if (!await grain.UpdateAsync(roles, senders, ElemtaAuthentication.ActorOf(user)).WaitAsync(ct))
        {
            return NoUser(key);
        }

        return TypedResults.Ok(Model((await grain.GetAsync().WaitAsync(ct))!));
    }

    private static async Task<Results<Ok<UserWithPasswordModel>, ProblemHttpResult>> SetPasswordAsync(
        string name, PasswordRequest? body, IGrainFactory grains, IOptions<CredentialOptions> credentials, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!TryName(name, out var key, out var problem) || !TryPassword(body?.Password, out problem))
        {
            return problem;
        }

        var password = body?.Password ?? Passwords.Generate();
        var grain = grains.GetGrain<IUserGrain>(key);
        if (!await grain.SetCredentialsAsync(Passwords.CreateCredentials(password, credentials.Value), ElemtaAuthentication.ActorOf(user)).WaitAsync(ct))
        {
            return NoUser(key);
        }

        var account = await grain.GetAsync().WaitAsync(ct);
        return TypedResults.Ok(new UserWithPasswordModel(Model(account!), body?.Password is null ? password : null));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string name, UserAdministration users, ClaimsPrincipal user, CancellationToken ct)
    {
        if (!TryName(name, out var key, out var problem))
        {
            return problem;
        }

        return await users.DeleteAsync(key, ElemtaAuthentication.ActorOf(user), ct) switch
        {
            DeleteUserStatus.NotFound => NoUser(key),
            DeleteUserStatus.LastAdmin => ApiProblems.Conflict($"'{key}' is the only admin; make another account admin first."),
            _ => TypedResults.NoContent(),
        };
    }

    private static UserModel Model(UserAccount account) => UserAdministration.Model(account);

    private static bool TryName(string name, [NotNullWhen(true)] out string? key, [NotNullWhen(false)] out ProblemHttpResult? problem)
    {
        key = Passwords.NormalizeUserName(name, out var error);
        problem = key is null ? ApiProblems.BadRequest(error ?? "Not a user name.") : null;
        return key is not null;
    }

    private static bool TryRoles(IReadOnlyList<string> names, out ImmutableArray<UserRole> roles, [NotNullWhen(false)] out ProblemHttpResult? problem)
    {
        problem = null;
        roles = [];
        if (names.Count == 0 || names.Any(string.IsNullOrEmpty))
        {
            problem = ApiProblems.Invalid("An account needs at least one role (admin, operator, viewer, sender).");
            return false;
        }

        try
        {
            roles = Passwords.ParseRoles(names);
            return true;
        }
        catch (FormatException ex)
        {
            problem = ApiProblems.Invalid(ex.Message);
            return false;
        }
    }

    private static bool TrySenders(IReadOnlyList<string>? rules, out ImmutableArray<string> senders, [NotNullWhen(false)] out ProblemHttpResult? problem)
    {
        problem = null;
        senders = [];
        foreach (var rule in rules ?? [])
        {
            var error = rule is null ? "allowedSenders must not hold null." : SenderRules.Check(rule);
            if (error is not null)
            {
                problem = ApiProblems.Invalid(error);
                return false;
            }
        }

        senders = [.. rules ?? []];
        return true;
    }

    private static bool TryPassword(string? password, [NotNullWhen(false)] out ProblemHttpResult? problem)
    {
        var error = password is null ? null : Passwords.Check(password);
        problem = error is null ? null : ApiProblems.Invalid(error);
        return error is null;
    }

    private static ProblemHttpResult NoUser(string name) => ApiProblems.NotFound($"No user '{name}'.");
}
