using System.Text.Json;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace Elemta.Api.Problems;

/// <summary>
/// The API's error answers, one per kind, all RFC 9457 problem details: 400 for a request that cannot be read (a
/// malformed id, cursor or body), 404 for an unknown message, account or key, 409 for a conflict with what exists,
/// 422 for well-formed values that are not acceptable (an unknown role, a bad priority, a limit out of range).
/// </summary>
public static class ApiProblems
{
    /// <summary>400: the request cannot be read.</summary>
    public static ProblemHttpResult BadRequest(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status400BadRequest, title: "Malformed request");

    /// <summary>404: nothing by that name.</summary>
    public static ProblemHttpResult NotFound(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status404NotFound, title: "Not found");

    /// <summary>409: it conflicts with what exists.</summary>
    public static ProblemHttpResult Conflict(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status409Conflict, title: "Conflict");

    /// <summary>422: well-formed, but a value is not acceptable.</summary>
    public static ProblemHttpResult Invalid(string detail) =>
        TypedResults.Problem(detail, statusCode: StatusCodes.Status422UnprocessableEntity, title: "Invalid value");

    /// <summary>
    /// What was wrong with a request the framework could not bind: its own message names the parameter and the value,
    /// and for JSON where in the body; the JSON reader's message, which names .NET types, is left out.
    /// </summary>
    internal static string Describe(BadHttpRequestException exception) => exception.InnerException switch
    {
        JsonException { Path.Length: > 0 } json => $"{exception.Message} The JSON is malformed or has a value of the wrong type at {json.Path}.",
        _ => exception.Message,
    };
}
