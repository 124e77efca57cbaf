using BenchmarkDotNet.Attributes;
using Elemta.Smtp.Protocol;

namespace Elemta.Bench.Micro;

/// <summary>
/// The parsers the session calls for every MAIL and RCPT command and once per message, called directly with the
/// arguments the session hands them (the text after <c>FROM:</c> / <c>TO:</c>, the NOTIFY value, the content).
/// </summary>
[MemoryDiagnoser]
public class SmtpParserBenchmarks
{
    private const string MailArgument = "<alice@example.org> SIZE=1024 BODY=8BITMIME";
    private const string RcptArgument = "<bob@example.net> NOTIFY=FAILURE";

    private byte[] _content = [];

    [GlobalSetup]
    public void Setup() => _content = SampleMessages.Content(SampleMessages.Large);

    /// <summary><c>MAIL FROM:&lt;alice@example.org&gt; SIZE=1024 BODY=8BITMIME</c>: path and parameters.</summary>
    [Benchmark]
    public object? MailFromPath() => SmtpPathParser.Parse(MailArgument, allowNull: true, out _);

    /// <summary><c>RCPT TO:&lt;bob@example.net&gt; NOTIFY=FAILURE</c>: path and parameters.</summary>
    [Benchmark]
    public object? RcptToPath() => SmtpPathParser.Parse(RcptArgument, allowNull: false, out _);

    /// <summary>The NOTIFY value, as the session checks it after parsing the RCPT path.</summary>
    [Benchmark]
    public string? RcptNotify() => DsnParameterParser.ParseNotify("FAILURE");

    /// <summary>The header-section check run on every complete message (it reads the header only, whatever the body's size).</summary>
    [Benchmark]
    public int HeaderSectionCheck() => HeaderSection.Parse(_content).End;
}
