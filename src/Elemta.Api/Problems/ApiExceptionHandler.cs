using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Mvc;
using Microsoft.Extensions.Logging;

namespace Elemta.Api.Problems;

/// <summary>
/// Turns any exception that reaches the host's exception handler into an RFC 9457 problem: a request the framework
/// could not read (malformed JSON, a body of the wrong type) is a 400 saying so; anything else is a 500 that says
/// nothing of the exception. The exception itself goes to the log, never to the client.
/// </summary>
public sealed partial class ApiExceptionHandler(IProblemDetailsService problems, ILogger<ApiExceptionHandler> logger) : IExceptionHandler
{
    /// <inheritdoc />
    public async ValueTask<bool> TryHandleAsync(HttpContext httpContext, Exception exception, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(httpContext);
        ProblemDetails problem;
        if (exception is BadHttpRequestException bad)
        {
            LogBadRequest(httpContext.Request.Method, httpContext.Request.Path, bad.Message);
            problem = new ProblemDetails { Status = bad.StatusCode, Title = "Malformed request", Detail = ApiProblems.Describe(bad) };
        }
        else if (exception is OperationCanceledException && httpContext.RequestAborted.IsCancellationRequested)
        {
            // The client went away: nobody reads an answer.
            return true;
        }
        else
        {
            LogFailed(exception, httpContext.Request.Method, httpContext.Request.Path);
            problem = new ProblemDetails
            {
                Status = StatusCodes.Status500InternalServerError,
                Title = "Internal error",
                Detail = "The request failed inside Elemta; the silo's log has the cause.",
            };
        }

        httpContext.Response.StatusCode = problem.Status!.Value;
        return await problems.TryWriteAsync(new ProblemDetailsContext { HttpContext = httpContext, ProblemDetails = problem }).ConfigureAwait(false);
    }

    [LoggerMessage(EventId = 2010, Level = LogLevel.Error, Message = "HTTP {Method} {Path} failed")]
    private partial void LogFailed(Exception exception, string method, PathString path);

    [LoggerMessage(EventId = 2011, Level = LogLevel.Debug, Message = "HTTP {Method} {Path}: malformed request: {Reason}")]
    private partial void LogBadRequest(string method, PathString path, string reason);
}
