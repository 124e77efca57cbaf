using System.Security.Claims;
using Elemta.Admin.Authentication;
using Elemta.Admin.Hosting;
using Microsoft.AspNetCore.Components;
using Microsoft.AspNetCore.Components.Authorization;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.FluentUI.AspNetCore.Components;

namespace Elemta.Admin.Live;

/// <summary>
/// A page that shows what the grains say now: it loads on open and then every <see cref="AdminOptions.RefreshInterval"/>
/// on a <see cref="TimeProvider"/> timer, and the circuit pushes what changed to the browser — counts and lists move
/// without a reload and without the browser polling. Also the pages' shared helpers: the signed-in actor, confirmation
/// dialogs and success/error toasts.
/// </summary>
public abstract partial class LivePage : ComponentBase, IDisposable
{
    private readonly CancellationTokenSource _stopping = new();
    private ITimer? _timer;
    private int _refreshing;

    /// <summary>The clock the refresh timer runs on.</summary>
    [Inject]
    protected TimeProvider Time { get; set; } = default!;

    /// <summary>The admin app's options.</summary>
    [Inject]
    protected IOptions<AdminOptions> Options { get; set; } = default!;

    /// <summary>Toasts.</summary>
    [Inject]
    protected INotificationService Notifications { get; set; } = default!;

    /// <summary>Confirmation dialogs.</summary>
    [Inject]
    protected IDialogService Dialogs { get; set; } = default!;

    /// <summary>For logging refresh and action failures.</summary>
    [Inject]
    protected ILoggerFactory LoggerFactory { get; set; } = default!;

    /// <summary>The signed-in account.</summary>
    [CascadingParameter]
    protected Task<AuthenticationState> AuthenticationState { get; set; } = default!;

    /// <summary>The signed-in account, once initialised.</summary>
    protected ClaimsPrincipal User { get; private set; } = new();

    /// <summary>The actor recorded in the audit log for what this page does.</summary>
    protected string Actor => User.Identity?.Name ?? throw new InvalidOperationException("Not signed in.");

    /// <summary>Whether the account may act on the queue (operator or admin).</summary>
    protected bool CanOperate => AdminAuthentication.CanOperate(User);

    /// <summary>Whether the account may manage accounts and keys and purge (admin).</summary>
    protected bool CanAdminister => AdminAuthentication.CanAdminister(User);

    /// <summary>Why the last load failed; null when it did not.</summary>
    protected string? LoadError { get; private set; }

    /// <summary>Whether the first load has finished.</summary>
    protected bool Loaded { get; private set; }

    /// <summary>When the page last read the grains.</summary>
    protected DateTimeOffset? LoadedAt { get; private set; }

    /// <summary>Cancelled when the page closes.</summary>
    protected CancellationToken Stopping => _stopping.Token;

    /// <summary>Reads what the page shows.</summary>
    protected abstract Task LoadAsync(CancellationToken cancellationToken);

    /// <inheritdoc />
    protected override async Task OnInitializedAsync()
    {
        User = (await AuthenticationState.ConfigureAwait(true)).User;
        await RefreshAsync().ConfigureAwait(true);
        var interval = Options.Value.RefreshInterval;
        _timer = Time.CreateTimer(_ => _ = InvokeAsync(TickAsync), null, interval, interval);
    }

    /// <summary>Loads again now, keeping the error (if any) for the page to show.</summary>
    protected async Task RefreshAsync()
    {
        try
        {
            await LoadAsync(_stopping.Token).ConfigureAwait(true);
            LoadError = null;
            LoadedAt = Time.GetUtcNow();
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            LogLoadFailed(LoggerFactory.CreateLogger(GetType()), GetType().Name, ex);
            LoadError = ex is TimeoutException or OperationCanceledException ? "The cluster did not answer in time." : ex.Message;
        }
        finally
        {
            Loaded = true;
        }
    }

    /// <summary>Asks before something that cannot be undone; true when confirmed.</summary>
    protected async Task<bool> ConfirmAsync(string message, string title, string confirmLabel)
    {
        var result = await Dialogs.ShowConfirmationAsync(message, title, confirmLabel, "Cancel").ConfigureAwait(true);
        return !result.Cancelled;
    }

    /// <summary>
    /// Runs an action, says how it went in a toast (its result text on success, the error on failure) and reloads the
    /// page's data so the change shows at once.
    /// </summary>
    protected async Task RunAsync(string title, Func<Task<string>> action)
    {
        ArgumentNullException.ThrowIfNull(action);
        try
        {
            var message = await action().ConfigureAwait(true);
            Toast(ToastIntent.Success, title, message);
        }
        catch (Exception ex) when (ex is not OperationCanceledException || !_stopping.IsCancellationRequested)
        {
            LogActionFailed(LoggerFactory.CreateLogger(GetType()), title, ex);
            Toast(ToastIntent.Error, $"{title} failed", ex.Message);
        }

        await RefreshAsync().ConfigureAwait(true);
    }

    /// <summary>Shows a toast without waiting for it to close.</summary>
    protected void Toast(ToastIntent intent, string title, string message)
    {
        var shown = Notifications.ShowToastAsync(o =>
        {
            o.Intent = intent;
            o.Title = title;
            o.Message = message;
        });
        _ = shown.ContinueWith(t => _ = t.Exception, CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
    }

    /// <summary>Stops the refresh timer.</summary>
    public void Dispose()
    {
        Dispose(true);
        GC.SuppressFinalize(this);
    }

    /// <summary>Stops the refresh timer.</summary>
    protected virtual void Dispose(bool disposing)
    {
        if (disposing)
        {
            _timer?.Dispose();
            _stopping.Cancel();
            _stopping.Dispose();
        }
    }

    private async Task TickAsync()
    {
        // A slow cluster must not pile refreshes up: a tick that finds one still running is skipped.
        if (Interlocked.Exchange(ref _refreshing, 1) == 1 || _stopping.IsCancellationRequested)
        {
            return;
        }

        try
        {
            await RefreshAsync().ConfigureAwait(true);
            StateHasChanged();
        }
        catch (ObjectDisposedException)
        {
            // The page closed while it was loading.
        }
        finally
        {
            Volatile.Write(ref _refreshing, 0);
        }
    }

    [LoggerMessage(EventId = 2110, Level = LogLevel.Warning, Message = "Admin app: {Page} could not load")]
    private static partial void LogLoadFailed(ILogger logger, string page, Exception exception);

    [LoggerMessage(EventId = 2111, Level = LogLevel.Warning, Message = "Admin app: {Action} failed")]
    private static partial void LogActionFailed(ILogger logger, string action, Exception exception);
}
