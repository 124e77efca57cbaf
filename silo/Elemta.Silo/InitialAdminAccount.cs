using Elemta.Auth;
using Elemta.Contracts;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace Elemta.Silo;

/// <summary>
/// On a start with an empty user store, creates the <c>admin</c> account with a random password, printed once in the
/// log and written to <c>{DataDirectory}/initial-admin-password</c> (mode 0600), so a new installation can be managed
/// without a default password. Registered after the silo, so grains can be called when it runs.
/// </summary>
internal sealed partial class InitialAdminAccount(
    IGrainFactory grains,
    IOptions<ElemtaOptions> elemta,
    IOptions<CredentialOptions> credentials,
    ILogger<InitialAdminAccount> logger) : IHostedService
{
    public const string AdminName = "admin";
    public const string FileName = "initial-admin-password";

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        var names = await grains.GetGrain<IUserDirectoryGrain>(IUserDirectoryGrain.Key).ListAsync().WaitAsync(cancellationToken).ConfigureAwait(false);
        if (!names.IsEmpty)
        {
            return;
        }

        var password = Passwords.Generate();
        // The grain creates the account once even if two silos start empty at the same moment; only the winner tells.
        if (!await grains.GetGrain<IUserGrain>(AdminName).CreateAsync([UserRole.Admin], [], Passwords.CreateCredentials(password, credentials.Value), "system").WaitAsync(cancellationToken).ConfigureAwait(false))
        {
            return;
        }

        var path = Path.Combine(Path.GetFullPath(elemta.Value.DataDirectory), FileName);
        await WritePrivateAsync(path, password + "\n", cancellationToken).ConfigureAwait(false);
        LogCreated(AdminName, password, path);
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Creates the file readable by its owner only from the start, never briefly readable by others.</summary>
    private static async Task WritePrivateAsync(string path, string text, CancellationToken cancellationToken)
    {
        var options = new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write };
        if (!OperatingSystem.IsWindows())
        {
            options.UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;
        }

        var stream = new FileStream(path, options);
        await using (stream.ConfigureAwait(false))
        {
            if (!OperatingSystem.IsWindows())
            {
                // UnixCreateMode applies only to a new file; an old one keeps its mode unless set again.
                File.SetUnixFileMode(stream.SafeFileHandle, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            }

            await stream.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text), cancellationToken).ConfigureAwait(false);
            await stream.FlushAsync(cancellationToken).ConfigureAwait(false);
        }
    }

    // The one place Elemta logs a password: the issue asks that the first admin password be shown once, at creation.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Created the initial '{Name}' account with password {Password} (also in {Path}, mode 0600); change it with: elemta user passwd admin")]
    private partial void LogCreated(string name, string password, string path);
}
