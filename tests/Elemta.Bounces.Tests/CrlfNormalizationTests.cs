using System.Text;

namespace Elemta.Bounces.Tests;

/// <summary>The line-ending repair applied to a returned original, on its fast path (already CRLF) and its slow one.</summary>
public class CrlfNormalizationTests
{
    [Theory]
    [InlineData("", "")]
    [InlineData("a\r\nb\r\n", "a\r\nb\r\n")]
    [InlineData("a\nb\n", "a\r\nb\r\n")]
    [InlineData("a\rb\r", "a\r\nb\r\n")]
    [InlineData("a\r\n\rb", "a\r\n\r\nb\r\n")]
    [InlineData("a\n\r\nb\r\n", "a\r\n\r\nb\r\n")]
    [InlineData("no line ending", "no line ending\r\n")]
    [InlineData("a\r\nb", "a\r\nb\r\n")]
    [InlineData("\r", "\r\n")]
    [InlineData("\r\r\n", "\r\n\r\n")]
    public void Every_line_ends_in_crlf(string input, string expected) =>
        Assert.Equal(expected, Encoding.ASCII.GetString(ReturnedOriginal.ToCrlf(Encoding.ASCII.GetBytes(input))));
}
