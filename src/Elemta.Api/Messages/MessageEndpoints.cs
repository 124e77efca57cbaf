using System.Security.Claims;
using Elemta.Api.Administration;
using Elemta.Api.Authentication;
using Elemta.Api.Problems;
using Elemta.Api.Validation;
using Elemta.Contracts;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.OpenApi;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Options;
using Microsoft.OpenApi;
using Microsoft.Net.Http.Headers;

namespace Elemta.Api.Messages;

/// <summary>
/// <c>POST /api/messages</c>: submit a message (the raw RFC 5322 text as <c>message/rfc822</c>, the envelope in the
/// query) through the same message grain call the SDK and <c>sendmail</c> use, which stores content and envelope
/// durably before it returns; only then does the answer say 201.
/// </summary>
internal static class MessageEndpoints
{
    public const string MediaType = "message/rfc822";

    public static void MapMessages(this RouteGroupBuilder api)
    {
        api.MapPost("/messages", SubmitAsync)
            .WithTags("Queue")
            .WithName("SubmitMessage")
            .WithSummary("Queues a message for delivery: the body is the RFC 5322 message (message/rfc822), the envelope is from, to (repeated) and priority in the query. 201 once it is stored durably.")
            // Described here rather than with Accepts(): Accepts would make routing refuse another media type with a
            // bare 415, where the handler's 415 says what to send.
            .AddOpenApiOperationTransformer((operation, context, ct) =>
            {
                operation.RequestBody = new OpenApiRequestBody
                {
                    Required = true,
                    Description = "The RFC 5322 message, headers and body; bare LF line ends are made CRLF.",
                    Content = new Dictionary<string, OpenApiMediaType>
                    {
                        [MediaType] = new OpenApiMediaType { Schema = new OpenApiSchema { Type = JsonSchemaType.String, Format = "binary" } },
                    },
                };
                return Task.CompletedTask;
            })
            .ProducesProblem(StatusCodes.Status400BadRequest)
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status422UnprocessableEntity)
            .RequireAuthorization(ElemtaPolicies.Operate);
    }

    private static async Task<Results<Created<SubmittedMessageModel>, ProblemHttpResult>> SubmitAsync(
        HttpRequest request,
        [FromQuery] string? from,
        [FromQuery] string[]? to,
        [FromQuery] string? priority,
        QueueAdministration queue,
        IOptions<MessageSubmissionOptions> options,
        ClaimsPrincipal user,
        CancellationToken ct)
    {
        if (!MediaTypeHeaderValue.TryParse(request.ContentType, out var contentType) || !contentType.MediaType.Equals(MediaType, StringComparison.OrdinalIgnoreCase))
        {
            return TypedResults.Problem(
                $"The body must be the RFC 5322 message with Content-Type: {MediaType} (curl: -H 'Content-Type: {MediaType}' --data-binary @message.eml).",
                statusCode: StatusCodes.Status415UnsupportedMediaType, title: "Unsupported media type");
        }

        if (from is null)
        {
            return ApiProblems.BadRequest("from is required: the envelope sender, or from= (empty) for the null sender <>.");
        }

        var sender = from is "<>" ? string.Empty : from;
        if (sender.Length > 0 && !IsEnvelopeAddress(sender))
        {
            return ApiProblems.BadRequest($"from '{sender}' is not an address of the form local@domain.");
        }

        var recipients = (to ?? []).Distinct(StringComparer.Ordinal).ToList(); // local parts are case-sensitive (RFC 5321 §2.4)
        if (recipients.Count == 0)
        {
            return ApiProblems.BadRequest("At least one recipient is required: to=address, repeated for several.");
        }

        if (recipients.FirstOrDefault(r => !IsEnvelopeAddress(r)) is { } bad)
        {
            return ApiProblems.BadRequest($"to '{bad}' is not an address of the form local@domain.");
        }

        var level = MessagePriority.Normal;
        if (priority is not null && !RequestValues.TryPriority(priority, out level))
        {
            return ApiProblems.Invalid($"Unknown priority '{priority}' (critical, high, normal, low, bulk).");
        }

        var max = options.Value.MaxMessageSize;
        if (request.ContentLength > max)
        {
            return TooLarge(max);
        }

        // Kestrel's own limit (30 MB by default) would cut a larger configured maximum short, and answer without
        // problem details: raised to it when lower, so this endpoint enforces the SMTP maximum itself.
        if (request.HttpContext.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false, MaxRequestBodySize: { } kestrel } limit && kestrel <= max)
        {
            limit.MaxRequestBodySize = max + 1;
        }

        var content = await ReadBodyAsync(request.Body, max, ct);
        if (content is null)
        {
            return TooLarge(max);
        }

        if (content.Length == 0)
        {
            return ApiProblems.BadRequest("The message is empty: the body must be the RFC 5322 message.");
        }

        if (Array.IndexOf(content, (byte)0) >= 0)
        {
            return ApiProblems.BadRequest("The message contains NUL octets, which RFC 5322 does not allow.");
        }

        content = ToCrlf(content);
        if (content.Length > max)
        {
            return TooLarge(max);
        }

        var client = request.HttpContext.Connection.RemoteIpAddress?.ToString() ?? "unknown";
        var id = await queue.SubmitAsync(sender, recipients, content, level, client, ElemtaAuthentication.ActorOf(user), ct);
        return TypedResults.Created($"{request.PathBase}/api/queue/message/{id}", new SubmittedMessageModel(id, sender, recipients, content.Length, level));
    }

    /// <summary>An envelope address: <c>local@domain</c>, no spaces, controls or angle brackets.</summary>
    private static bool IsEnvelopeAddress(string address) =>
        RequestValues.IsAddress(address) && address.IndexOfAny(['<', '>', ',']) < 0;

    private static ProblemHttpResult TooLarge(long max) =>
        TypedResults.Problem($"The message is larger than the maximum of {max} octets (Elemta:Smtp:MaxMessageSize).",
            statusCode: StatusCodes.Status413PayloadTooLarge, title: "Message too large");

    /// <summary>The body, or null once it grows past <paramref name="max"/> octets (what was read so far is dropped).</summary>
    private static async Task<byte[]?> ReadBodyAsync(Stream body, long max, CancellationToken ct)
    {
        using var buffer = new MemoryStream();
        var chunk = new byte[81920];
        int read;
        while ((read = await body.ReadAsync(chunk, ct)) > 0)
        {
            if (buffer.Length + read > max)
            {
                return null;
            }

            buffer.Write(chunk, 0, read);
        }

        return buffer.ToArray();
    }

    /// <summary>Bare LF line ends (a file written on Unix) become CRLF, as SMTP stores every message.</summary>
    internal static byte[] ToCrlf(byte[] content)
    {
        var bare = 0;
        for (var i = 0; i < content.Length; i++)
        {
            if (content[i] == (byte)'\n' && (i == 0 || content[i - 1] != (byte)'\r'))
            {
                bare++;
            }
        }

        if (bare == 0)
        {
            return content;
        }

        var result = new byte[content.Length + bare];
        var j = 0;
        for (var i = 0; i < content.Length; i++)
        {
            if (content[i] == (byte)'\n' && (i == 0 || content[i - 1] != (byte)'\r'))
            {
                result[j++] = (byte)'\r';
            }

            result[j++] = content[i];
        }

        return result;
    }
}
