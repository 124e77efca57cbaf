using System.IO.Pipelines;
using System.Net;
using BenchmarkDotNet.Attributes;
using Elemta.Auth;
using Elemta.Contracts;
using Elemta.Smtp;
using Elemta.Smtp.Server;
using Elemta.Storage;
using Elemta.Storage.Sqlite;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Elemta.Bench.Micro;

/// <summary>
/// One whole SMTP session driven through the real <c>SmtpSession</c> over an in-memory connection: the command
/// reader, verb split, path and parameter parsing, the DATA reader (end-of-data detection, dot-unstuffing, the
/// line rules), the header check and the replies. The acceptor does nothing, so what is measured is the front-end's
/// own cost per message; <see cref="BodyStoreBenchmarks"/> measures the store it hands the content to, and
/// <see cref="TransactionStored"/> the two together.
/// </summary>
/// <remarks>
/// <see cref="Transaction"/> is EHLO, MAIL, RCPT, DATA, content and QUIT, sent as a PIPELINING client sends them
/// (MAIL, RCPT and DATA in one batch, then the content and QUIT); <see cref="EhloQuit"/> is the same session without
/// the transaction, so the difference is the cost of the transaction itself. <see cref="TransactionStored"/> is the
/// same transaction accepted into the embedded store (durable commit, fsync) as <c>GrainMessageAcceptor</c> does
/// before it calls the message grain, which is left out: every copy of the content between the socket and the
/// database is in it.
/// </remarks>
[MemoryDiagnoser]
public class SmtpTransactionBenchmarks
{
    private static readonly IPEndPoint Client = new(IPAddress.Loopback, 49152);

    private SmtpServerContext _server = null!;
    private SmtpServerContext _storingServer = null!;
    private DiscardingAcceptor _acceptor = null!;
    private TemporaryDatabase _database = null!;
    private byte[] _ehlo = [];
    private byte[] _envelope = [];
    private byte[] _dataAndQuit = [];
    private byte[] _quit = [];

    /// <summary>The size of the message content in octets, before dot-stuffing.</summary>
    [Params(SampleMessages.Small, SampleMessages.Large)]
    public int MessageSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        // Defaults as the silo has them (25 MB limit, no greeting delay, loopback trusted for relay), without TLS.
        var options = new SmtpServerOptions { HostName = "mx.bench.test" };
        _acceptor = new DiscardingAcceptor();
        _server = Context(options, _acceptor);
        _database = TemporaryDatabase.CreateAsync().GetAwaiter().GetResult();
        _storingServer = Context(options, new StoreOnlyAcceptor(_database.Messages));
        _ehlo = "EHLO client.example.org\r\n"u8.ToArray();
        _envelope = "MAIL FROM:<alice@example.org> SIZE=1024 BODY=8BITMIME\r\nRCPT TO:<bob@example.net> NOTIFY=FAILURE\r\nDATA\r\n"u8.ToArray();
        _quit = "QUIT\r\n"u8.ToArray();
        _dataAndQuit = [.. SampleMessages.DataPhase(SampleMessages.Content(MessageSize)), .. _quit];

        // A benchmark of a refused message would measure the wrong thing: check once that the message is accepted.
        Transaction().GetAwaiter().GetResult();
        if (_acceptor.LastSize < MessageSize)
        {
            throw new InvalidOperationException($"The session accepted {_acceptor.LastSize} octets for a {MessageSize}-octet message.");
        }

        TransactionStored().GetAwaiter().GetResult();
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _server.Dispose();
        _storingServer.Dispose();
        await _database.DisposeAsync().ConfigureAwait(false);
    }

    [Benchmark(Baseline = true)]
    public Task EhloQuit() => RunSessionAsync(_server, withMessage: false);

    [Benchmark]
    public Task Transaction() => RunSessionAsync(_server, withMessage: true);

    [Benchmark]
    public Task TransactionStored() => RunSessionAsync(_storingServer, withMessage: true);

    private static SmtpServerContext Context(SmtpServerOptions options, IMessageAcceptor acceptor) =>
        new(
            Options.Create(options),
            acceptor,
            new NoAccounts(),
            Options.Create(new CredentialOptions { PasswordIterations = CredentialOptions.MinPasswordIterations }),
            TimeProvider.System);

    private async Task RunSessionAsync(SmtpServerContext server, bool withMessage)
    {
        var toServer = new Pipe();
        var toClient = new Pipe();
        await using var transport = new ServerTransport(toServer.Reader, toClient.Writer);
        var session = new SmtpSession(transport, implicitTls: false, submission: false, Client, server, NullLogger.Instance, CancellationToken.None);
        var running = session.RunAsync();
        var client = new ScriptedClient(toClient.Reader, toServer.Writer);
        await client.ExpectAsync("2").ConfigureAwait(false);
        await client.SendAsync(_ehlo).ConfigureAwait(false);
        await client.ExpectAsync("2").ConfigureAwait(false);
        if (withMessage)
        {
            await client.SendAsync(_envelope).ConfigureAwait(false);
            await client.ExpectAsync("223").ConfigureAwait(false);
            await client.SendAsync(_dataAndQuit).ConfigureAwait(false);
            await client.ExpectAsync("22").ConfigureAwait(false);
        }
        else
        {
            await client.SendAsync(_quit).ConfigureAwait(false);
            await client.ExpectAsync("2").ConfigureAwait(false);
        }

        await toServer.Writer.CompleteAsync().ConfigureAwait(false);
        await running.ConfigureAwait(false);
        await toClient.Reader.CompleteAsync().ConfigureAwait(false);
    }

    /// <summary>Takes the message and keeps nothing but its size (to check the setup), like a store that costs nothing.</summary>
    private sealed class DiscardingAcceptor : IMessageAcceptor
    {
        public int LastSize { get; private set; }

        public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken)
        {
            LastSize = content.Length;
            return Task.CompletedTask;
        }
    }

    /// <summary>The durable half of <c>GrainMessageAcceptor</c>: the store's commit, without the grain call after it.</summary>
    private sealed class StoreOnlyAcceptor(MessageStore store) : IMessageAcceptor
    {
        public Task AcceptAsync(MessageEnvelope envelope, ReadOnlyMemory<byte> content, CancellationToken cancellationToken) =>
            store.AcceptAsync(envelope, content, cancellationToken);
    }

    private sealed class NoAccounts : IUserStore
    {
        public Task<UserAccount?> FindAsync(string name, CancellationToken cancellationToken) => Task.FromResult<UserAccount?>(null);
    }
}
