using System.Text;
using Elemta.Delivery.Local;

namespace Elemta.Delivery.Tests.Local;

/// <summary>What the LMTP client puts on the wire after 354: the bytes that decide where the server thinks the message ends.</summary>
public sealed class LmtpDataEncodingTests
{
    private static async Task<string> EncodeAsync(string content)
    {
        using var wire = new MemoryStream();
        var session = new LmtpSession(wire, TimeSpan.FromSeconds(5), TimeProvider.System);
        await session.WriteDataAsync(Encoding.ASCII.GetBytes(content), CancellationToken.None);
        return Encoding.ASCII.GetString(wire.ToArray());
    }

    [Theory]
    [InlineData("a\r\nb\r\n", "a\r\nb\r\n.\r\n")]
    [InlineData("a\r\nb", "a\r\nb\r\n.\r\n")]
    [InlineData("", ".\r\n")]
    [InlineData(".x\r\n.\r\n..\r\n", "..x\r\n..\r\n...\r\n.\r\n")]
    [InlineData("a\r\n.\r\nb\r\n", "a\r\n..\r\nb\r\n.\r\n")]
    [InlineData("a.b\r\n", "a.b\r\n.\r\n")]
    public async Task Dots_at_line_starts_are_doubled_and_the_end_is_marked_once(string content, string wire) =>
        Assert.Equal(wire, await EncodeAsync(content));

    [Theory]
    [InlineData("a\n.\nb\n", "a\r\n..\r\nb\r\n.\r\n")]
    [InlineData("a\r.\rb", "a\r\n..\r\nb\r\n.\r\n")]
    [InlineData("a\r\n.\n.\r\n", "a\r\n..\r\n..\r\n.\r\n")]
    public async Task Bare_CR_and_LF_become_CRLF_so_no_other_end_of_data_can_be_read(string content, string wire) =>
        Assert.Equal(wire, await EncodeAsync(content));
}
