using System.Collections.Immutable;
using System.Diagnostics;
using System.Text;
using Elemta.Contracts;
using Microsoft.Extensions.Time.Testing;
using MimeKit;

namespace Elemta.Bounces.Tests;

/// <summary>Originals, envelopes and readers shared by the notice tests.</summary>
internal static class NoticeTestKit
{
    public const string Host = "mx.elemta.test";
    public const string PythonPath = "/usr/bin/python3";

    public static readonly DateTimeOffset Now = new(2026, 3, 14, 15, 9, 26, TimeSpan.Zero);
    public static readonly DateTimeOffset Arrival = Now.AddHours(-5);

    public const string SimpleOriginal =
        "From: Alice <alice@example.org>\r\n" +
        "To: bob@example.net\r\n" +
        "Subject: quarterly report\r\n" +
        "Message-ID: <original-1@example.org>\r\n" +
        "\r\n" +
        "Hello Bob,\r\n" +
        "the numbers are attached.\r\n";

    public static DeliveryStatusNoticeBuilder Builder(BounceOptions? options = null) =>
        new(options ?? new BounceOptions { ReportingHostName = Host }, new FakeTimeProvider(Now));

    public static MessageEnvelope Envelope(
        string sender = "alice@example.org",
        string[]? recipients = null,
        DsnParameters? dsn = null,
        long size = 0,
        bool requireTls = false) =>
        new("q0001original", sender, [.. recipients ?? ["bob@example.net"]], Arrival, "192.0.2.10", "client.example.org", size,
            Contracts.MessagePriority.Normal, requireTls, dsn);

    public static DsnParameters Dsn(string? ret = null, string? envelopeId = null, params RecipientDsn[] recipients) =>
        new(ret, envelopeId, [.. recipients]);

    public static RecipientReport Failed(string address = "bob@example.net", string reply = "550 5.1.1 <bob@example.net>: no such user", bool remote = true) =>
        new(address, RecipientAction.Failed, reply, remote, remote ? "mx1.example.net" : null, Now.AddMinutes(-1));

    public static NoticeRequest Request(
        NoticeKind kind,
        MessageEnvelope? envelope = null,
        string? original = null,
        byte[]? originalBytes = null,
        params RecipientReport[] reports)
    {
        var content = originalBytes ?? Encoding.UTF8.GetBytes(original ?? SimpleOriginal);
        envelope ??= Envelope(size: content.Length);
        ImmutableArray<RecipientReport> recipients = reports.Length > 0 ? [.. reports] : [Failed()];
        return new NoticeRequest("q0002notice", envelope, content, kind, recipients);
    }

    public static MimeMessage Parse(byte[] content)
    {
        using var stream = new MemoryStream(content, writable: false);
        return MimeMessage.Load(stream);
    }

    /// <summary>The three parts of a report, checked to be of the report's shape.</summary>
    public static (TextPart Text, MessageDeliveryStatus Status, MimeEntity Returned) Parts(MimeMessage notice)
    {
        var report = Assert.IsType<MultipartReport>(notice.Body);
        Assert.Equal("delivery-status", report.ReportType);
        Assert.Equal(3, report.Count);
        return (Assert.IsType<TextPart>(report[0]), Assert.IsType<MessageDeliveryStatus>(report[1]), report[2]);
    }

    /// <summary>A field of a status group: its unfolded value, or null when absent.</summary>
    public static string? Field(HeaderList group, string name) => group.Contains(name) ? group[name] : null;

    /// <summary>Asserts every line of <paramref name="content"/> ends in CRLF: no bare LF, no bare CR.</summary>
    public static void AssertCrlfOnly(byte[] content)
    {
        for (var i = 0; i < content.Length; i++)
        {
            if (content[i] == '\n')
            {
                Assert.True(i > 0 && content[i - 1] == '\r', $"bare LF at octet {i}");
            }
            else if (content[i] == '\r')
            {
                Assert.True(i + 1 < content.Length && content[i + 1] == '\n', $"bare CR at octet {i}");
            }
        }

        Assert.True(content.Length >= 2 && content[^2] == '\r' && content[^1] == '\n', "content does not end in CRLF");
    }

    /// <summary>Runs Python's email parser on <paramref name="content"/> with <paramref name="script"/> (content on stdin).</summary>
    public static async Task<(int ExitCode, string Stdout, string Stderr)> RunPythonAsync(string script, byte[] content)
    {
        Assert.True(File.Exists(PythonPath), $"{PythonPath} is required for the interop tests (Debian's python3).");
        var startInfo = new ProcessStartInfo(PythonPath)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        startInfo.ArgumentList.Add("-I");
        startInfo.ArgumentList.Add("-c");
        startInfo.ArgumentList.Add(script);

        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        using var process = Process.Start(startInfo) ?? throw new InvalidOperationException($"Could not start {PythonPath}.");
        var stdout = process.StandardOutput.ReadToEndAsync(timeout.Token);
        var stderr = process.StandardError.ReadToEndAsync(timeout.Token);
        await process.StandardInput.BaseStream.WriteAsync(content, timeout.Token);
        process.StandardInput.Close();
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{PythonPath} did not finish within 60 seconds.");
        }

        return (process.ExitCode, await stdout, await stderr);
    }
}
