using Microsoft.Extensions.Options;

namespace Elemta.Admin.Hosting;

/// <summary>The admin app (<c>Elemta:Admin</c>): the Blazor pages at <c>/</c> and the Orleans Dashboard at <c>/dashboard</c>.</summary>
public sealed class AdminOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Admin";

    /// <summary>Serve the admin app at <c>/</c> (and its login). On by default; the REST API does not depend on it.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Serve the Orleans Dashboard at <c>/dashboard</c>, behind the same login. On by default.</summary>
    public bool Dashboard { get; set; } = true;

    /// <summary>How long a sign-in lasts without use; each request in the second half of it renews it (sliding expiry).</summary>
    public TimeSpan SessionLifetime { get; set; } = TimeSpan.FromHours(8);

    /// <summary>How often an open page reads again what it shows (counts, lists), pushed to the browser through its circuit.</summary>
    public TimeSpan RefreshInterval { get; set; } = TimeSpan.FromSeconds(2);
}

/// <summary>Checks <see cref="AdminOptions"/> at start, naming the key of each problem.</summary>
public sealed class AdminOptionsValidator : IValidateOptions<AdminOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, AdminOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = new List<string>();
        if (options.SessionLifetime < TimeSpan.FromMinutes(1) || options.SessionLifetime > TimeSpan.FromDays(30))
        {
            failures.Add($"{AdminOptions.SectionName}:SessionLifetime must be between 00:01:00 and 30.00:00:00 (it is {options.SessionLifetime}).");
        }

        if (options.RefreshInterval < TimeSpan.FromMilliseconds(250) || options.RefreshInterval > TimeSpan.FromMinutes(10))
        {
            failures.Add($"{AdminOptions.SectionName}:RefreshInterval must be between 00:00:00.250 and 00:10:00 (it is {options.RefreshInterval}).");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
