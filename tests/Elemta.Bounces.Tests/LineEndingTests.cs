using System.Text;
using Elemta.Contracts;
using static Elemta.Bounces.Tests.NoticeTestKit;

namespace Elemta.Bounces.Tests;

/// <summary>A notice is relayed unchanged, so it must be CRLF throughout whatever the original's line endings.</summary>
public class LineEndingTests
{
    public static TheoryData<NoticeKind, string?, string> Cases()
    {
        var data = new TheoryData<NoticeKind, string?, string>();
        string[] originals =
        [
            SimpleOriginal,
            SimpleOriginal.Replace("\r\n", "\n", StringComparison.Ordinal),
            SimpleOriginal.Replace("\r\n", "\r", StringComparison.Ordinal),
            "Subject: mixed\r\nX: a\n\rbody\r\rmore\n\nend",
            "Subject: no final newline\r\n\r\nlast line",
        ];
        foreach (var kind in new[] { NoticeKind.Failure, NoticeKind.Delay, NoticeKind.Success })
        {
            foreach (var ret in new[] { "FULL", "HDRS", null })
            {
                foreach (var original in originals)
                {
                    data.Add(kind, ret, original);
                }
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Notice_has_only_crlf_line_endings(NoticeKind kind, string? ret, string original)
    {
        var bytes = Encoding.ASCII.GetBytes(original);
        var report = kind switch
        {
            NoticeKind.Failure => Failed(reply: "550-5.1.1 line one\n550 5.1.1 line two"),
            NoticeKind.Delay => new RecipientReport("bob@example.net", RecipientAction.Delayed, "451 4.3.0\rlater", RetryUntil: Now.AddDays(4)),
            _ => new RecipientReport("bob@example.net", RecipientAction.Delivered, "250 ok"),
        };
        var envelope = Envelope(dsn: ret is null ? null : Dsn(ret, recipients: []), size: bytes.Length);

        var notice = Builder().Build(Request(kind, envelope, originalBytes: bytes, reports: report));

        AssertCrlfOnly(notice.Content);
        Assert.Equal(2, Parts(Parse(notice.Content)).Status.StatusGroups.Count);
    }
}
