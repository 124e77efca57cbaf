using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace Elemta.Smtp.Tests;

/// <summary>
/// One complete SMTP reply (RFC 5321 §4.2): every line's code, and the text after the code. The enhanced status
/// code (RFC 3463 / RFC 2034), when present, is the first word of the last line's text.
/// </summary>
internal sealed partial record SmtpReply(int Code, IReadOnlyList<string> Lines)
{
    /// <summary>The text of each line, without the code and separator.</summary>
    public IEnumerable<string> Texts => Lines.Select(l => l[4..]);

    /// <summary>The last line's text, e.g. "2.0.0 Ok: queued as ...".</summary>
    public string Text => Lines[^1][4..];

    /// <summary>The enhanced status code, or null when the reply has none.</summary>
    public string? EnhancedCode => EnhancedCodePattern().Match(Text) is { Success: true } m ? m.Groups[1].Value : null;

    /// <summary>Asserts the reply code and, when given, the enhanced status code.</summary>
    public SmtpReply AssertIs(int code, string? enhancedCode = null)
    {
        if (Code != code || (enhancedCode is not null && EnhancedCode != enhancedCode))
        {
            Assert.Fail($"Expected {code}{(enhancedCode is null ? string.Empty : " " + enhancedCode)} but the server replied:\n{this}");
        }

        return this;
    }

    public override string ToString() => string.Join("\n", Lines);

    [GeneratedRegex(@"^([245]\.\d{1,3}\.\d{1,3})(?: |$)")]
    private static partial Regex EnhancedCodePattern();
}

/// <summary>
/// A bare line-oriented SMTP client over <see cref="TcpClient"/>, for what a well-behaved library would never send:
/// pipelined batches in one write, bare CR/LF, over-long lines, misuse. Every read is bounded by a timeout, and the
/// reply reader insists on the reply syntax (three digits, '-' or ' ', CRLF, the same code on every line).
/// </summary>
internal sealed class RawSmtpClient : IAsyncDisposable
{
    private readonly TcpClient _client;
    private Stream _stream;
    private readonly byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    private RawSmtpClient(TcpClient client)
    {
        _client = client;
        _stream = client.GetStream();
    }

    public static async Task<RawSmtpClient> ConnectAsync(IPEndPoint endPoint)
    {
        // Loopback only: these tests never send traffic anywhere else.
        Assert.True(IPAddress.IsLoopback(endPoint.Address), $"Refusing to connect to non-loopback {endPoint}.");
        var client = new TcpClient(endPoint.AddressFamily) { NoDelay = true };
        try
        {
            await client.ConnectAsync(endPoint, TestTimeouts.Token());
            return new RawSmtpClient(client);
        }
        catch
        {
            client.Dispose();
            throw;
        }
    }

    /// <summary>The TLS session after <see cref="UpgradeToTlsAsync"/>, else null.</summary>
    public System.Net.Security.SslStream? Tls { get; private set; }

    /// <summary>
    /// Runs a TLS client handshake on the connection (after a 220 to STARTTLS, or first thing on an implicit-TLS
    /// port), accepting the server's certificate whatever it is: these tests check the protocol, not the PKI.
    /// </summary>
    public async Task UpgradeToTlsAsync(System.Security.Authentication.SslProtocols protocols = System.Security.Authentication.SslProtocols.None)
    {
        Assert.True(_start == _end, "Unread server bytes before the TLS handshake.");
        var tls = new System.Net.Security.SslStream(_stream, leaveInnerStreamOpen: true);
        await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
        {
            TargetHost = "mx.test",
            EnabledSslProtocols = protocols,
            RemoteCertificateValidationCallback = static (_, _, _, _) => true,
        }, TestTimeouts.Token());
        Tls = tls;
        _stream = tls;
    }

    /// <summary>Discards whatever the server still sends (e.g. a TLS alert) and reports whether it closed within <paramref name="bound"/>.</summary>
    public async Task<bool> DrainUntilClosedAsync(TimeSpan bound)
    {
        try
        {
            var token = TestTimeouts.Token(bound);
            while (await _client.GetStream().ReadAsync(_buffer, token) > 0)
            {
            }

            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>Sends the text as UTF-8 in a single write, exactly as given (no line ending is added).</summary>
    public Task SendAsync(string text) => SendAsync(Encoding.UTF8.GetBytes(text));

    /// <summary>Sends the bytes in a single write.</summary>
    public async Task SendAsync(byte[] bytes) => await _stream.WriteAsync(bytes, TestTimeouts.Token());

    /// <summary>
    /// Keeps sending <paramref name="bytes"/> without reading any reply until the server drops the connection (the
    /// write fails: true) or <paramref name="bound"/> passes (false).
    /// </summary>
    public async Task<bool> FloodUntilDroppedAsync(byte[] bytes, TimeSpan bound)
    {
        var token = TestTimeouts.Token(bound);
        try
        {
            while (true)
            {
                await _stream.WriteAsync(bytes, token);
            }
        }
        catch (IOException)
        {
            return true;
        }
        catch (OperationCanceledException) when (token.IsCancellationRequested)
        {
            return false;
        }
    }

    /// <summary>Sends one command line (CRLF appended) and reads its reply.</summary>
    public async Task<SmtpReply> CommandAsync(string command)
    {
        await SendAsync(command + "\r\n");
        return await ReadReplyAsync();
    }

    /// <summary>Reads one complete reply, following <c>250-</c> continuation lines to the final <c>250 </c> line.</summary>
    public async Task<SmtpReply> ReadReplyAsync(TimeSpan? timeout = null)
    {
        var token = TestTimeouts.Token(timeout ?? TestTimeouts.Reply);
        var lines = new List<string>();
        while (true)
        {
            var line = await ReadLineAsync(token)
                       ?? throw new EndOfStreamException(lines.Count == 0
                           ? "The server closed the connection instead of replying."
                           : $"The server closed the connection in the middle of a reply:\n{string.Join("\n", lines)}");
            if (line.Length < 3 || !char.IsAsciiDigit(line[0]) || !char.IsAsciiDigit(line[1]) || !char.IsAsciiDigit(line[2])
                || (line.Length > 3 && line[3] is not (' ' or '-')))
            {
                Assert.Fail($"Malformed reply line: '{line}'");
            }

            if (lines.Count > 0 && !line.StartsWith(lines[0][..3], StringComparison.Ordinal))
            {
                Assert.Fail($"Reply code changed inside a multi-line reply:\n{string.Join("\n", lines)}\n{line}");
            }

            // A bare "250" (no text) is a legal last line; normalise it so Text is always defined.
            lines.Add(line.Length == 3 ? line + " " : line);
            if (line.Length == 3 || line[3] == ' ')
            {
                return new SmtpReply(int.Parse(line[..3], System.Globalization.CultureInfo.InvariantCulture), lines);
            }
        }
    }

    /// <summary>Reads <paramref name="count"/> replies in order (for pipelined batches).</summary>
    public async Task<IReadOnlyList<SmtpReply>> ReadRepliesAsync(int count)
    {
        var replies = new List<SmtpReply>(count);
        for (var i = 0; i < count; i++)
        {
            replies.Add(await ReadReplyAsync());
        }

        return replies;
    }

    /// <summary>
    /// Asserts that the server closes the connection (end of stream or reset) within the bound, without sending
    /// anything more first.
    /// </summary>
    public async Task AssertClosedByServerAsync(TimeSpan? timeout = null)
    {
        if (_end > _start)
        {
            Assert.Fail($"Unread data from the server: '{Encoding.UTF8.GetString(_buffer, _start, _end - _start)}'");
        }

        var bound = timeout ?? TestTimeouts.Reply;
        int read;
        try
        {
            read = await _stream.ReadAsync(_buffer, TestTimeouts.Token(bound));
        }
        catch (IOException)
        {
            return; // reset by the server: closed, too
        }
        catch (OperationCanceledException)
        {
            Assert.Fail($"The server did not close the connection within {bound}.");
            return;
        }

        if (read > 0)
        {
            Assert.Fail($"Expected the server to close the connection, but it sent: '{Encoding.UTF8.GetString(_buffer, 0, read)}'");
        }
    }

    /// <summary>One CRLF-terminated line without the CRLF, or null at end of stream. A bare LF from the server fails the test.</summary>
    private async Task<string?> ReadLineAsync(CancellationToken token)
    {
        while (true)
        {
            var lf = Array.IndexOf(_buffer, (byte)'\n', _start, _end - _start);
            if (lf >= 0)
            {
                if (lf == _start || _buffer[lf - 1] != (byte)'\r')
                {
                    Assert.Fail($"Reply line not terminated by CRLF: '{Encoding.UTF8.GetString(_buffer, _start, lf - _start)}'");
                }

                var line = Encoding.UTF8.GetString(_buffer, _start, lf - 1 - _start);
                _start = lf + 1;
                return line;
            }

            if (_start > 0)
            {
                Array.Copy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                Assert.Fail("Reply line longer than the client's buffer.");
            }

            int read;
            try
            {
                read = await _stream.ReadAsync(_buffer.AsMemory(_end), token);
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                throw new TimeoutException(
                    $"No complete reply from the server in time; partial data: '{Encoding.UTF8.GetString(_buffer, 0, _end)}'");
            }

            if (read == 0)
            {
                return null;
            }

            _end += read;
        }
    }

    public ValueTask DisposeAsync()
    {
        Tls?.Dispose();
        _client.Dispose();
        return ValueTask.CompletedTask;
    }
}
