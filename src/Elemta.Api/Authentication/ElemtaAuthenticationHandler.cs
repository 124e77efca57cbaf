using System.Globalization;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Microsoft.Net.Http.Headers;

namespace Elemta.Api.Authentication;

/// <summary>
/// What the two schemes share: a challenge that offers both (a client without credentials learns it may use either),
/// and 401/403/429 answers written as problem details rather than empty bodies, whatever the host's middleware.
/// </summary>
public abstract class ElemtaAuthenticationHandler(IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    /// <summary>Set by a scheme that refused to check credentials because of the failure lockout: how long it lasts.</summary>
    internal const string RetryAfterItem = "elemta.auth.retry-after";

    /// <inheritdoc />
    protected override async Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        if (Context.Items.TryGetValue(RetryAfterItem, out var value) && value is TimeSpan retryAfter)
        {
            var seconds = Math.Max(1, (int)Math.Ceiling(retryAfter.TotalSeconds));
            Response.StatusCode = StatusCodes.Status429TooManyRequests;
            Response.Headers.RetryAfter = seconds.ToString(CultureInfo.InvariantCulture);
            await WriteProblemAsync("Too many failed sign-ins", $"Authentication is locked for this address or account; retry after {seconds} s.", "https://www.rfc-editor.org/rfc/rfc6585#section-4").ConfigureAwait(false);
            return;
        }

        Response.StatusCode = StatusCodes.Status401Unauthorized;
        Response.Headers.Append(HeaderNames.WWWAuthenticate, $"Bearer realm=\"{ElemtaAuthentication.Realm}\"");
        Response.Headers.Append(HeaderNames.WWWAuthenticate, $"Basic realm=\"{ElemtaAuthentication.Realm}\", charset=\"UTF-8\"");
        await WriteProblemAsync("Authentication required", "Send an API key (Authorization: Bearer …) or an account's credentials (HTTP Basic).").ConfigureAwait(false);
    }

    /// <inheritdoc />
    protected override Task HandleForbiddenAsync(AuthenticationProperties properties)
    {
        Response.StatusCode = StatusCodes.Status403Forbidden;
        return WriteProblemAsync("Forbidden", "Your role does not allow this (viewer reads, operator acts on the queue, admin manages accounts, keys and purges).");
    }

    private async Task WriteProblemAsync(string title, string detail, string? type = null)
    {
        var problems = Context.RequestServices.GetService<IProblemDetailsService>();
        var problem = new ProblemDetails { Status = Response.StatusCode, Title = title, Detail = detail, Type = type };
        if (problems is null || !await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = Context, ProblemDetails = problem }).ConfigureAwait(false))
        {
            await Response.WriteAsJsonAsync(problem, (System.Text.Json.JsonSerializerOptions?)null, "application/problem+json", Context.RequestAborted).ConfigureAwait(false);
        }
    }
}
