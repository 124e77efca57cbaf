using System.Net;
using System.Net.Http.Headers;
using System.Text;
using Elemta.Client;
using Elemta.Silo.Tests;
using Elemta.Testing;

namespace Elemta.Api.Tests;

/// <summary>
/// <c>POST /api/messages</c>: who may submit, what is refused and how, and that an accepted message is queued, visible
/// at its Location, audited and delivered; and the SDK's HTTP client submitting through it.
/// </summary>
[Collection(ApiCollection.Name)]
public sealed class SubmissionTests(ApiSilo api)
{
    private const int AuditPage = 500;

    private static ByteArrayContent Rfc822(string text, string mediaType = "message/rfc822")
    {
        var content = new ByteArrayContent(Encoding.UTF8.GetBytes(text));
        content.Headers.ContentType = new MediaTypeHeaderValue(mediaType);
        return content;
    }

    private static string Message(string subject) =>
        $"From: <api@example.org>\nTo: <rcpt@sink.test>\nSubject: {subject}\nMessage-ID: <{Guid.NewGuid():N}@elemta.test>\n\nSubmitted over HTTP.\n";

    [Theory]
    [InlineData("anonymous", HttpStatusCode.Unauthorized)]
    [InlineData("sender", HttpStatusCode.Forbidden)]
    [InlineData("viewer", HttpStatusCode.Forbidden)]
    [InlineData("operator", HttpStatusCode.Created)]
    [InlineData("admin", HttpStatusCode.Created)]
    public async Task Operators_and_admins_may_submit_others_may_not(string caller, HttpStatusCode expected)
    {
        using var client = caller == "anonymous" ? api.Anonymous() : api.As(caller);
        using var response = await client.PostAsync("/api/messages?from=api@example.org&to=rcpt@sink.test", Rfc822(Message($"auth matrix {caller}")));
        if (expected == HttpStatusCode.Created)
        {
            var created = await response.ReadJsonAsync(HttpStatusCode.Created);
            Assert.Equal($"/api/queue/message/{created.GetProperty("messageId").GetString()}", response.Headers.Location?.OriginalString);
        }
        else
        {
            await Problems.AssertProblemAsync(response, expected);
        }
    }

    [Fact]
    public async Task A_submitted_message_is_queued_visible_at_its_location_audited_and_delivered_to_the_sink()
    {
        using var operatorClient = api.As("operator");
        var subject = $"submitted {Guid.NewGuid():N}";
        var message = Message(subject);
        using var response = await operatorClient.PostAsync(
            "/api/messages?from=api@example.org&to=rcpt@sink.test&to=other@sink.test&to=rcpt@sink.test&priority=high", Rfc822(message));
        var created = await response.ReadJsonAsync(HttpStatusCode.Created);
        var id = created.GetProperty("messageId").GetString()!;
        Assert.Matches("^[0-9a-f]{32}$", id);
        Assert.Equal("api@example.org", created.GetProperty("sender").GetString());
        Assert.Equal(new[] { "rcpt@sink.test", "other@sink.test" }, created.GetProperty("recipients").EnumerateArray().Select(r => r.GetString()));
        Assert.Equal("high", created.GetProperty("priority").GetString());

        // Stored before the 201: the detail answers at once, with the envelope as given and the HTTP client as its origin.
        using var viewer = api.As("viewer");
        var detail = await (await viewer.GetAsync(response.Headers.Location)).ReadJsonAsync();
        var envelope = detail.GetProperty("envelope");
        Assert.Equal("api@example.org", envelope.GetProperty("sender").GetString());
        Assert.Equal("high", envelope.GetProperty("priority").GetString());
        Assert.Equal("rest-api", envelope.GetProperty("heloName").GetString());
        Assert.Equal("127.0.0.1", envelope.GetProperty("clientAddress").GetString());

        // Line ends were made CRLF, as SMTP stores every message (the content itself is checked at the sink: it is
        // deleted from the store once delivered, which may be before this line).
        Assert.Equal(message.Replace("\n", "\r\n", StringComparison.Ordinal).Length, created.GetProperty("size").GetInt64());

        var audit = await (await viewer.GetAsync($"/api/audit?subject={id}")).ReadJsonAsync();
        var entry = Assert.Single(audit.GetProperty("items").EnumerateArray());
        Assert.Equal("message.submit", entry.GetProperty("action").GetString());
        Assert.Equal($"apikey:{api.Keys["operator"].Id}", entry.GetProperty("actor").GetString());
        Assert.Contains("recipients=2", entry.GetProperty("detail").GetString(), StringComparison.Ordinal);

        var delivered = await Eventually.GetAsync(
            () => Task.FromResult(api.Sink.Messages.FirstOrDefault(m => Encoding.UTF8.GetString(m.Data).Contains(subject, StringComparison.Ordinal))),
            m => m is not null, ApiSilo.Timeout, "the submitted message at the sink");
        Assert.Equal("api@example.org", delivered!.MailFrom);
        Assert.Equal(new[] { "other@sink.test", "rcpt@sink.test" }, delivered.Recipients.Order(StringComparer.Ordinal));
        var data = Encoding.UTF8.GetString(delivered.Data);
        Assert.Contains($"Subject: {subject}\r\n", data, StringComparison.Ordinal);
        Assert.DoesNotMatch("[^\r]\n", data);
        await api.WaitForStateAsync(id, "delivered");
    }

    [Fact]
    public async Task The_null_sender_is_an_empty_from()
    {
        using var operatorClient = api.As("operator");
        var created = await (await operatorClient.PostAsync("/api/messages?from=&to=rcpt@sink.test", Rfc822(Message("null sender")))).ReadJsonAsync(HttpStatusCode.Created);
        Assert.Equal(string.Empty, created.GetProperty("sender").GetString());
    }

    public static TheoryData<string, string, string, HttpStatusCode, string> BadRequests() => new()
    {
        { "/api/messages?from=a@example.org", "Subject: x\n\nbody\n", "message/rfc822", HttpStatusCode.BadRequest, "recipient is required" },
        { "/api/messages?to=b@sink.test", "Subject: x\n\nbody\n", "message/rfc822", HttpStatusCode.BadRequest, "from is required" },
        { "/api/messages?from=a@example.org&to=not-an-address", "Subject: x\n\nbody\n", "message/rfc822", HttpStatusCode.BadRequest, "'not-an-address' is not an address" },
        { "/api/messages?from=a%20b@example.org&to=b@sink.test", "Subject: x\n\nbody\n", "message/rfc822", HttpStatusCode.BadRequest, "is not an address" },
        { "/api/messages?from=a@example.org&to=%3Cb@sink.test%3E", "Subject: x\n\nbody\n", "message/rfc822", HttpStatusCode.BadRequest, "is not an address" },
        { "/api/messages?from=a@example.org&to=b@sink.test", string.Empty, "message/rfc822", HttpStatusCode.BadRequest, "empty" },
        { "/api/messages?from=a@example.org&to=b@sink.test", "Subject: x\n\nnul \0 here\n", "message/rfc822", HttpStatusCode.BadRequest, "NUL" },
        { "/api/messages?from=a@example.org&to=b@sink.test&priority=urgent", "Subject: x\n\nbody\n", "message/rfc822", HttpStatusCode.UnprocessableEntity, "Unknown priority 'urgent'" },
        { "/api/messages?from=a@example.org&to=b@sink.test", "Subject: x\n\nbody\n", "text/plain", HttpStatusCode.UnsupportedMediaType, "message/rfc822" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_input_gets_a_problem_that_says_what_is_wrong_and_queues_nothing(string path, string body, string mediaType, HttpStatusCode status, string says)
    {
        using var operatorClient = api.As("operator");
        var before = await CountAuditedSubmissionsAsync();
        using var response = await operatorClient.PostAsync(path, Rfc822(body, mediaType));
        var problem = await Problems.AssertProblemAsync(response, status);
        Assert.Contains(says, problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        Assert.Equal(before, await CountAuditedSubmissionsAsync());
    }

    [Fact]
    public async Task A_message_over_the_smtp_maximum_size_gets_413_with_and_without_a_content_length()
    {
        using var operatorClient = api.As("operator");
        var text = "Subject: big\r\n\r\n" + new string('x', ApiSilo.MaxMessageSize);
        using (var response = await operatorClient.PostAsync("/api/messages?from=a@example.org&to=b@sink.test", Rfc822(text)))
        {
            var problem = await Problems.AssertProblemAsync(response, HttpStatusCode.RequestEntityTooLarge);
            Assert.Contains($"maximum of {ApiSilo.MaxMessageSize} octets", problem.GetProperty("detail").GetString(), StringComparison.Ordinal);
        }

        // Chunked: no Content-Length to refuse up front, so the limit applies while reading.
        using var chunked = new StreamContent(new MemoryStream(Encoding.ASCII.GetBytes(text)));
        chunked.Headers.ContentType = new MediaTypeHeaderValue("message/rfc822");
        using var request = new HttpRequestMessage(HttpMethod.Post, "/api/messages?from=a@example.org&to=b@sink.test") { Content = chunked };
        request.Headers.TransferEncodingChunked = true;
        using var answer = await operatorClient.SendAsync(request);
        await Problems.AssertProblemAsync(answer, HttpStatusCode.RequestEntityTooLarge);

        // Bare LF line ends that become CRLF count after the conversion: exactly the maximum in LF, over it in CRLF.
        var lines = new StringBuilder("Subject: lf\n\n");
        while (lines.Length < ApiSilo.MaxMessageSize - 100)
        {
            lines.Append("0123456789012345678901234567890123456789\n");
        }

        lines.Append(new string('y', ApiSilo.MaxMessageSize - lines.Length));
        using var grown = await operatorClient.PostAsync("/api/messages?from=a@example.org&to=b@sink.test", Rfc822(lines.ToString()));
        await Problems.AssertProblemAsync(grown, HttpStatusCode.RequestEntityTooLarge);
    }

    [Fact]
    public async Task The_sdk_http_client_submits_raw_and_mime_messages_and_reports_refusals_as_invalid()
    {
        using var client = ElemtaHttpClient.WithApiKey(api.Silo.HttpUrl, api.Keys["operator"].Key);
        var id = await client.SubmitAsync("sdk@example.org", ["rcpt@sink.test"], Encoding.ASCII.GetBytes("Subject: sdk raw\r\n\r\nHello\r\n"), Elemta.Contracts.MessagePriority.Low);
        var status = await client.GetMessageAsync(id);
        Assert.NotNull(status);
        Assert.Equal("sdk@example.org", status.Envelope.Sender);
        Assert.Equal(Elemta.Contracts.MessagePriority.Low, status.Envelope.Priority);

        var mime = new MimeKit.MimeMessage();
        mime.From.Add(new MimeKit.MailboxAddress("SDK", "mime@example.org"));
        mime.To.Add(new MimeKit.MailboxAddress(null, "to@deferred.test"));
        mime.Bcc.Add(new MimeKit.MailboxAddress(null, "hidden@deferred.test"));
        mime.Subject = "sdk mime";
        mime.Body = new MimeKit.TextPart("plain") { Text = "Hello" };
        var mimeId = await client.SubmitAsync(mime);
        var mimeStatus = await client.GetMessageAsync(mimeId);
        Assert.Equal("mime@example.org", mimeStatus!.Envelope.Sender);
        Assert.Equal(new[] { "to@deferred.test", "hidden@deferred.test" }, mimeStatus.Envelope.Recipients);
        var raw = Encoding.UTF8.GetString((await client.GetRawMessageAsync(mimeId))!);
        Assert.DoesNotContain("hidden@deferred.test", raw, StringComparison.Ordinal);

        var refused = await Assert.ThrowsAsync<ElemtaException>(() => client.SubmitAsync("sdk@example.org", ["nope"], Encoding.ASCII.GetBytes("Subject: x\r\n\r\nx\r\n")));
        Assert.Equal(ElemtaErrorKind.Invalid, refused.Kind);
        Assert.Contains("'nope' is not an address", refused.Message, StringComparison.Ordinal);
        await Assert.ThrowsAsync<ArgumentException>(() => client.SubmitAsync("sdk@example.org", [], Encoding.ASCII.GetBytes("x")));

        using var viewer = ElemtaHttpClient.WithApiKey(api.Silo.HttpUrl, api.Keys["viewer"].Key);
        var forbidden = await Assert.ThrowsAsync<ElemtaException>(() => viewer.SubmitAsync("sdk@example.org", ["rcpt@sink.test"], Encoding.ASCII.GetBytes("Subject: x\r\n\r\nx\r\n")));
        Assert.Equal(ElemtaErrorKind.Unauthorized, forbidden.Kind);
    }

    private async Task<int> CountAuditedSubmissionsAsync()
    {
        using var viewer = api.As("viewer");
        var audit = await (await viewer.GetAsync($"/api/audit?limit={AuditPage}")).ReadJsonAsync();
        return audit.GetProperty("items").EnumerateArray().Count(e => e.GetProperty("action").GetString() == "message.submit");
    }
}
