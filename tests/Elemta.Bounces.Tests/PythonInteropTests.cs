using System.Text;
using System.Text.Json;
using Elemta.Contracts;
using static Elemta.Bounces.Tests.NoticeTestKit;

namespace Elemta.Bounces.Tests;

/// <summary>
/// A second, independent reader: Python's <c>email</c> package (Debian's python3, run as a process) must see a
/// <c>multipart/report</c> with a <c>message/delivery-status</c> part of the right groups and no parsing defects.
/// </summary>
public class PythonInteropTests
{
    /// <summary>Prints what Python's parser makes of the notice on stdin, as JSON.</summary>
    private const string Script = """
        import email, email.policy, json, sys
        msg = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.compat32)
        parts = msg.get_payload()
        status = parts[1]
        groups = [dict((k, " ".join(str(v).split())) for k, v in block.items()) for block in status.get_payload()]
        returned = parts[2]
        inner = returned.get_payload()
        inner = inner[0] if isinstance(inner, list) else None
        defects = [(p.get_content_type(), [type(d).__name__ for d in p.defects]) for p in msg.walk() if p.defects]
        print(json.dumps({
            "type": msg.get_content_type(),
            "report_type": msg.get_param("report-type"),
            "subject": msg["Subject"],
            "to": msg["To"],
            "auto_submitted": msg["Auto-Submitted"],
            "part_types": [p.get_content_type() for p in parts],
            "text": parts[0].get_payload(decode=True).decode(parts[0].get_content_charset() or "ascii"),
            "groups": groups,
            "returned_subject": str(inner["Subject"]) if inner is not None else None,
            "defects": defects,
        }))
        """;

    private static async Task<JsonElement> ParseWithPythonAsync(byte[] content)
    {
        var (exitCode, stdout, stderr) = await RunPythonAsync(Script, content);
        Assert.True(exitCode == 0, $"python3 failed ({exitCode}): {stderr}");
        return JsonDocument.Parse(stdout).RootElement;
    }

    private static string[] Strings(JsonElement array) => [.. array.EnumerateArray().Select(e => e.ToString())];

    [Fact]
    public async Task Python_reads_a_failure_notice_as_multipart_report_with_delivery_status()
    {
        var envelope = Envelope(
            recipients: ["bob@example.net", "carol@example.net"],
            dsn: Dsn("FULL", "QQ314159", new RecipientDsn("bob@example.net", "FAILURE", "rfc822;bob@example.net")),
            size: SimpleOriginal.Length);
        var notice = Builder().Build(Request(NoticeKind.Failure, envelope,
            reports: [Failed("bob@example.net"), Failed("carol@example.net", "552 5.2.2 mailbox full")]));

        var parsed = await ParseWithPythonAsync(notice.Content);

        Assert.Equal("multipart/report", parsed.GetProperty("type").GetString());
        Assert.Equal("delivery-status", parsed.GetProperty("report_type").GetString());
        Assert.Equal("Undelivered Mail Returned to Sender", parsed.GetProperty("subject").GetString());
        Assert.Equal("<alice@example.org>", parsed.GetProperty("to").GetString());
        Assert.Equal("auto-replied", parsed.GetProperty("auto_submitted").GetString());
        Assert.Equal(["text/plain", "message/delivery-status", "message/rfc822"], Strings(parsed.GetProperty("part_types")));
        Assert.Contains("<carol@example.net>: host mx1.example.net said: 552 5.2.2 mailbox full", parsed.GetProperty("text").GetString(), StringComparison.Ordinal);
        Assert.Equal("quarterly report", parsed.GetProperty("returned_subject").GetString());
        Assert.Equal(0, parsed.GetProperty("defects").GetArrayLength());

        var groups = parsed.GetProperty("groups");
        Assert.Equal(3, groups.GetArrayLength());
        Assert.Equal("QQ314159", groups[0].GetProperty("Original-Envelope-Id").GetString());
        Assert.Equal($"dns; {Host}", groups[0].GetProperty("Reporting-MTA").GetString());
        Assert.Equal("rfc822;bob@example.net", groups[1].GetProperty("Original-Recipient").GetString());
        Assert.Equal("rfc822; bob@example.net", groups[1].GetProperty("Final-Recipient").GetString());
        Assert.Equal("failed", groups[1].GetProperty("Action").GetString());
        Assert.Equal("5.1.1", groups[1].GetProperty("Status").GetString());
        Assert.Equal("rfc822; carol@example.net", groups[2].GetProperty("Final-Recipient").GetString());
        Assert.Equal("5.2.2", groups[2].GetProperty("Status").GetString());
        Assert.Equal("smtp; 552 5.2.2 mailbox full", groups[2].GetProperty("Diagnostic-Code").GetString());
    }

    [Fact]
    public async Task Python_reads_a_delay_notice_with_the_header_only_part()
    {
        var report = new RecipientReport("bob@example.net", RecipientAction.Delayed, "451 4.3.0 try again later", true, "mx1.example.net",
            Now, Arrival.AddDays(5));
        var notice = Builder().Build(Request(NoticeKind.Delay, reports: report));

        var parsed = await ParseWithPythonAsync(notice.Content);

        Assert.Equal(["text/plain", "message/delivery-status", "text/rfc822-headers"], Strings(parsed.GetProperty("part_types")));
        Assert.Equal("delayed", parsed.GetProperty("groups")[1].GetProperty("Action").GetString());
        Assert.True(parsed.GetProperty("groups")[1].TryGetProperty("Will-Retry-Until", out _));
        Assert.Equal(0, parsed.GetProperty("defects").GetArrayLength());
    }

    [Theory]
    [InlineData("From: alice@example.org\nSubject: bare LF\n\nbody\n")]
    [InlineData("From: alice@example.org\r\nSubject: no separator\r\nbody text here\r\n")]
    [InlineData("Subject: 8-bit \u00e9\r\n\r\nd\u00e9j\u00e0 vu\r\n")]
    [InlineData("")]
    public async Task Python_reads_notices_about_malformed_originals_without_defects(string original)
    {
        var bytes = Encoding.UTF8.GetBytes(original);
        var envelope = Envelope(recipients: ["j\u00f6rg@example.net"], dsn: Dsn("FULL", recipients: []), size: bytes.Length);
        var notice = Builder().Build(Request(NoticeKind.Failure, envelope, originalBytes: bytes, reports: Failed("j\u00f6rg@example.net")));
        AssertCrlfOnly(notice.Content);

        var parsed = await ParseWithPythonAsync(notice.Content);

        Assert.Equal("multipart/report", parsed.GetProperty("type").GetString());
        Assert.Equal("message/delivery-status", Strings(parsed.GetProperty("part_types"))[1]);
        Assert.Equal("utf-8; j\\x{F6}rg@example.net", parsed.GetProperty("groups")[1].GetProperty("Final-Recipient").GetString());
        Assert.Equal(0, parsed.GetProperty("defects").GetArrayLength());
    }
}
