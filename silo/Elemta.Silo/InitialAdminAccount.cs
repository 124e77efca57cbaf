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
    ILogger<InitialAdminAccount> logger) : IHostedService, IDisposable
{
    public const string AdminName = "admin";
    public const string FileName = "initial-admin-password";

    private readonly CancellationTokenSource _stopping = new();
    private Task _work = Task.CompletedTask;

    /// <summary>
    /// Runs beside the start rather than in it: hashing the password takes a moment of CPU, and a stop requested
    /// meanwhile must not turn into a failed start.
    /// </summary>
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _work = Task.Run(() => EnsureAdminAsync(_stopping.Token), CancellationToken.None);
        return Task.CompletedTask;
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        await _work.WaitAsync(cancellationToken).ConfigureAwait(false);
    }

    public void Dispose() => _stopping.Dispose();

    private async Task EnsureAdminAsync(CancellationToken cancellationToken)
    {
        try
        {
            await CreateIfEmptyAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // Stopping: the next start tries again, since the store is still empty.
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            LogFailed(ex);
        }
    }

    private async Task CreateIfEmptyAsync(CancellationToken cancellationToken)
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

        var directory = Path.GetFullPath(elemta.Value.DataDirectory);
        // On PostgreSQL nothing else may have created the data folder yet (SQLite's file does on the embedded default).
        Directory.CreateDirectory(directory);
        var path = Path.Combine(directory, FileName);
        await WritePrivateAsync(path, password + "\n", cancellationToken).ConfigureAwait(false);
        LogCreated(AdminName, password, path);
    }

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

    [LoggerMessage(Level = LogLevel.Error, Message = "Could not create the initial admin account; it will be tried at the next start")]
    private partial void LogFailed(Exception exception);

    // The one place Elemta logs a password: the issue asks that the first admin password be shown once, at creation.
    [LoggerMessage(Level = LogLevel.Warning, Message = "Created the initial '{Name}' account with password {Password} (also in {Path}, mode 0600); change it with: elemta user passwd admin")]
    private partial void LogCreated(string name, string password, string path);
}
