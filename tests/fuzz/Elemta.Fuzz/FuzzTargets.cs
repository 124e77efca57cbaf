using System.IO.Pipelines;
using System.Net;
using System.Text;
using Elemta.Auth;
using Elemta.Bench.Micro;
using Elemta.Contracts;
using Elemta.Smtp;
using Elemta.Smtp.Protocol;
using Elemta.Smtp.Server;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Elemta.Fuzz;

/// <summary>
/// What the fuzzer drives: each target takes arbitrary octets and must return without an exception of its own (a
/// refusal is a reply or a null result, never a throw) and without hanging. An exception that escapes is a crash.
/// </summary>
public static class FuzzTargets
{
    /// <summary>The targets by name, as <c>tests/fuzz/run.sh</c> and the corpus folders name them.</summary>
    public static IReadOnlyDictionary<string, Action<byte[]>> All { get; } = new Dictionary<string, Action<byte[]>>(StringComparer.Ordinal)
    {
        ["path"] = Path,
        ["dsn"] = Dsn,
        ["header"] = Header,
        ["session"] = Session,
        ["sasl"] = Sasl,
    };

    /// <summary>The reverse- and forward-path parser (RFC 5321 §4.1.2, RFC 6531 for UTF-8), with and without the null path.</summary>
    public static void Path(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        _ = SmtpPathParser.Parse(text, allowNull: true, out _);
        _ = SmtpPathParser.Parse(text, allowNull: false, out _);
        _ = SmtpPathParser.TryParseMailbox(text, out _, out _, out _);
    }

    /// <summary>The DSN parameters of MAIL and RCPT (RFC 3461 §4), xtext included.</summary>
    public static void Dsn(byte[] input)
    {
        var text = Encoding.UTF8.GetString(input);
        _ = DsnParameterParser.ParseReturn(text);
        _ = DsnParameterParser.ParseEnvelopeId(text);
        _ = DsnParameterParser.ParseNotify(text);
        _ = DsnParameterParser.ParseOriginalRecipient(text);
        _ = DsnParameterParser.TryDecodeXtext(text, out _);
    }

    /// <summary>The header-section scan applied to every received message (RFC 5322 §2.1, §3.6).</summary>
    public static void Header(byte[] input) => _ = HeaderSection.Parse(input);

    /// <summary>
    /// One SASL exchange driven directly (no session): the first line names the mechanism, each further line is a
    /// client response, fed as long as the mechanism keeps challenging. One account exists (alice), so exchanges can
    /// get as far as a proof check.
    /// </summary>
    public static void Sasl(byte[] input) => SaslAsync(input).GetAwaiter().GetResult();

    private static readonly string[] Mechanisms = ["PLAIN", "LOGIN", "CRAM-MD5", "SCRAM-SHA-256"];

    private static async Task SaslAsync(byte[] input)
    {
        var lines = Encoding.UTF8.GetString(input).Split('\n');
        var name = Mechanisms.FirstOrDefault(m => m.Equals(lines[0].Trim(), StringComparison.OrdinalIgnoreCase)) ?? Mechanisms[lines[0].Length % Mechanisms.Length];
        var mechanism = Smtp.Sasl.SaslMechanism.Create(name, SaslContext.Value);
        var step = await mechanism.StartAsync(lines.Length > 1 && lines[1].Length > 0 ? Encoding.UTF8.GetBytes(lines[1]) : null);
        for (var i = 2; i < lines.Length && step.Kind == Smtp.Sasl.SaslStepKind.Challenge; i++)
        {
            step = await mechanism.ContinueAsync(Encoding.UTF8.GetBytes(lines[i]));
        }
    }

    private static readonly Lazy<Smtp.Sasl.SaslContext> SaslContext = new(() => new(
        new OneAccount(), static _ => ValueTask.FromResult(true), Passwords.Decoy(new CredentialOptions { PasswordIterations = CredentialOptions.MinPasswordIterations }),
        new byte[32], "mx.fuzz.test", TimeProvider.System, IPAddress.Loopback, CancellationToken.None));

    private sealed class OneAccount : IUserStore
    {
        private static readonly Lazy<UserAccount> Alice = new(() => new UserAccount(
            "alice",
            [UserRole.Sender],
            [],
            Passwords.CreateCredentials("secret", new CredentialOptions { PasswordIterations = CredentialOptions.MinPasswordIterations }),
            DateTimeOffset.UnixEpoch,
            DateTimeOffset.UnixEpoch));

        public Task<UserAccount?> FindAsync(string name, CancellationToken cancellationToken) =>
            Task.FromResult(name == "alice" ? Alice.Value : null);
    }

    /// <summary>
    /// A whole session: the input is what a client sends, in one write, then the client closes its side. The session
    /// must answer and end: commands, pipelining, DATA and BDAT, AUTH exchanges (no account exists, so every
    /// mechanism runs to its failure), DSN and SIZE parameters, and the content rules all run on it.
    /// </summary>
    public static void Session(byte[] input) => _ = SessionAsync(input).GetAwaiter().GetResult();

    /// <summary>Runs <paramref name="input"/> as <see cref="Session"/> does and returns the server's replies, for reading a transcript.</summary>
    public static string Replies(byte[] input) => Encoding.UTF8.GetString(SessionAsync(input).GetAwaiter().GetResult());

    private static readonly IPEndPoint Stranger = new(IPAddress.Parse("192.0.2.1"), 40000);
    private static readonly IPEndPoint Trusted = new(IPAddress.Loopback, 40000);

    // Lazy: SharpFuzz's instrumented code (Elemta.Smtp) must not run before Fuzzer.OutOfProcess.Run has set up AFL's
    // shared memory, and choosing a target reads this class.
    private static readonly Lazy<SmtpServerContext> Server = new(() => new(
        Options.Create(new SmtpServerOptions { HostName = "mx.fuzz.test", MaxMessageSize = 64 * 1024, AllowPlaintextAuth = true, RelayDomains = ["example.net"] }),
        new DiscardingAcceptor(),
        new NoAccounts(),
        Options.Create(new CredentialOptions { PasswordIterations = CredentialOptions.MinPasswordIterations }),
        TimeProvider.System));

    private static async Task<byte[]> SessionAsync(byte[] input)
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        await using var transport = new ServerTransport(toServer.Reader, toClient.Writer);
        // Both kinds of client, as in production: a stranger (relay rules, no pipelining after DATA) and a trusted one
        // on loopback (relays, may pipeline whole transactions). The input's length picks, so the fuzzer reaches both.
        var client = (input.Length & 1) == 0 ? Stranger : Trusted;
        var session = new SmtpSession(transport, implicitTls: false, submission: false, client, Server.Value, NullLogger.Instance, CancellationToken.None);
        var running = session.RunAsync();
        // The replies are read as they come, so that a session never blocks on a full pipe.
        var draining = DrainAsync(toClient.Reader);
        await toServer.Writer.WriteAsync(input);
        await toServer.Writer.CompleteAsync();
        // With the input at its end the session must finish: a session still running after this long is a hang.
        await running.WaitAsync(TimeSpan.FromSeconds(10));
        await toClient.Writer.CompleteAsync();
        return await draining;
    }

    private static async Task<byte[]> DrainAsync(PipeReader reader)
    {
        using var replies = new MemoryStream();
        while (true)
        {
            var read = await reader.ReadAsync();
            foreach (var segment in read.Buffer)
            {
                replies.Write(segment.Span);
            }

            reader.AdvanceTo(read.Buffer.End);
            if (read.IsCompleted)
            {
                await reader.CompleteAsync();
                return replies.ToArray();
            }
        }
    }

    /// <summary>Messages the session target's sessions accepted so far: proof that inputs reach the end of DATA.</summary>
    public static int MessagesAccepted => Volatile.Read(ref _accepted);

    private static int _accepted;

    private sealed class DiscardingAcceptor : IMessageAcceptor
    {
        public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            Interlocked.Increment(ref _accepted);
            return Task.CompletedTask;
        }
    }

    private sealed class NoAccounts : IUserStore
    {
        public Task<UserAccount?> FindAsync(string name, CancellationToken cancellationToken) => Task.FromResult<UserAccount?>(null);
    }
}
