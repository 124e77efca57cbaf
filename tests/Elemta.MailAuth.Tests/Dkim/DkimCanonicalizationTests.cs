using System.Security.Cryptography;
using System.Text;
using Elemta.MailAuth.Dkim;

namespace Elemta.MailAuth.Tests.Dkim;

/// <summary>
/// The hand-written canonicalization of RFC 6376 §3.4 the verifier hashes (<see cref="DkimHeaderFields"/>,
/// <see cref="DkimBodyCanonicalization"/>), against the RFC's own rules and examples written out by hand.
/// </summary>
public sealed class DkimCanonicalizationTests
{
    private const string Signature = "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1;\r\n\th=from:subject; bh=AAAA;\r\n\tb=Zm9v\r\n YmFy\r\n";

    private static string SignedData(string header, string h, bool relaxed)
    {
        var message = Encoding.Latin1.GetBytes(header + "\r\nbody\r\n");
        var fields = DkimHeaderFields.Parse(message, out _);
        var signature = fields.Single(f => f.Is(message, "DKIM-Signature"));
        using var output = new ByteBuilder();
        DkimHeaderFields.WriteSignedData(message, fields, h.Split(':'), signature, relaxed, output);
        return Encoding.Latin1.GetString(output.Written);
    }

    [Fact]
    public void Relaxed_lowercases_names_unfolds_reduces_white_space_and_drops_it_around_the_colon_and_at_the_ends()
    {
        var data = SignedData(Signature + "SubJect \t:  A  folded \r\n\t  subject\t \r\nFROM:alice@example.org\r\n", "from:subject", relaxed: true);

        Assert.Equal(
            "from:alice@example.org\r\nsubject:A folded subject\r\n" +
            "dkim-signature:v=1; a=rsa-sha256; d=example.org; s=s1; h=from:subject; bh=AAAA; b=",
            data);
    }

    [Fact]
    public void Simple_keeps_each_field_exactly_as_it_is_and_the_signature_without_its_b_value_and_final_CRLF()
    {
        var data = SignedData(Signature + "SubJect \t:  A  folded \r\n\t  subject\t \r\nFROM:alice@example.org\r\n", "from:subject", relaxed: false);

        Assert.Equal(
            "FROM:alice@example.org\r\nSubJect \t:  A  folded \r\n\t  subject\t \r\n" +
            "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=s1;\r\n\th=from:subject; bh=AAAA;\r\n\tb=",
            data);
    }

    [Fact]
    public void The_b_value_is_removed_with_the_white_space_around_it_wherever_the_tag_stands_and_bh_is_kept()
    {
        var data = SignedData("DKIM-Signature: v=1; b = Zm9v\r\n YmFy ; bh=AAAA; h=from\r\nFrom: a@example.org\r\n", "from", relaxed: false);

        Assert.EndsWith("DKIM-Signature: v=1; b =; bh=AAAA; h=from", data, StringComparison.Ordinal);
    }

    [Fact]
    public void Repeated_names_take_instances_from_the_bottom_up_and_over_signed_names_add_nothing()
    {
        var header = Signature + "X-Tag: 1\r\nFrom: a@example.org\r\nX-Tag: 2\r\nx-tag: 3\r\n";

        Assert.Equal("x-tag:3\r\nx-tag:2\r\n", SignedData(header, "x-tag:x-tag", relaxed: true).Split("dkim-signature:")[0]);
        // Four x-tag for three instances, a name the message lacks, names in any case: the same data as three x-tag.
        Assert.Equal("x-tag:3\r\nx-tag:2\r\nx-tag:1\r\nfrom:a@example.org\r\n",
            SignedData(header, "X-TAG:x-tag:X-Tag:x-tag:reply-to:FROM:from", relaxed: true).Split("dkim-signature:")[0]);
    }

    [Fact]
    public void Header_fields_end_at_the_first_empty_line_and_bare_LF_counts_as_a_line_end()
    {
        var message = "From: a@example.org\nSubject: one\n two\n\nFrom: not a header\n"u8.ToArray();

        var fields = DkimHeaderFields.Parse(message, out var bodyStart);

        Assert.Equal(2, fields.Count);
        Assert.Equal(" one\n two", DkimHeaderFields.Value(message, fields[1]));
        Assert.Equal("From: not a header\n", Encoding.ASCII.GetString(message[bodyStart..]));
    }

    [Theory]
    // RFC 6376 §3.4.5's example body: " C \r\nD \t E\r\n\r\n\r\n".
    [InlineData(" C \r\nD \t E\r\n\r\n\r\n", false, " C \r\nD \t E\r\n")]
    [InlineData(" C \r\nD \t E\r\n\r\n\r\n", true, " C\r\nD E\r\n")]
    [InlineData("", false, "\r\n")]
    [InlineData("", true, "")]
    [InlineData("\r\n\r\n", false, "\r\n")]
    [InlineData(" \t\r\n", true, "")]
    [InlineData("no final line end", false, "no final line end\r\n")]
    [InlineData("no final line end \t", true, "no final line end\r\n")]
    [InlineData("a\n\nb\n", false, "a\r\n\r\nb\r\n")]
    [InlineData("a\r\n \r\nb", true, "a\r\n\r\nb\r\n")]
    public void The_body_hash_is_the_SHA_256_of_the_canonical_body(string body, bool relaxed, string canonical)
    {
        var hash = new byte[32];

        var length = DkimBodyCanonicalization.Sha256(Encoding.ASCII.GetBytes(body), relaxed, null, hash);

        Assert.Equal(Convert.ToBase64String(SHA256.HashData(Encoding.ASCII.GetBytes(canonical))), Convert.ToBase64String(hash));
        Assert.Equal(canonical.Length, length);
        Assert.Equal(canonical.Length, DkimBodyCanonicalization.Length(Encoding.ASCII.GetBytes(body), relaxed));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(5)]
    [InlineData(12)]
    [InlineData(500)]
    public void With_l_only_the_first_l_canonical_octets_are_hashed_and_the_whole_length_is_returned(int limit)
    {
        // Larger than the sink's 4 KiB buffer, so the limit also falls across a flush.
        var body = string.Concat(Enumerable.Repeat("line  with   spaces \r\n", 300));
        var canonical = string.Concat(Enumerable.Repeat("line with spaces\r\n", 300));
        var hash = new byte[32];

        var length = DkimBodyCanonicalization.Sha256(Encoding.ASCII.GetBytes(body), relaxed: true, limit * 11, hash);

        Assert.Equal(canonical.Length, length);
        var signed = Encoding.ASCII.GetBytes(canonical)[..Math.Min(limit * 11, canonical.Length)];
        Assert.Equal(SHA256.HashData(signed), hash);
    }
}
