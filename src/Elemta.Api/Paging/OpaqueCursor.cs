using System.Buffers.Text;
using System.Diagnostics.CodeAnalysis;
using System.Text;

namespace Elemta.Api.Paging;

/// <summary>
/// Page cursors: where the next page starts, as base64url text the client passes back without reading it. Opaque so
/// the store's keys can change without breaking clients; a cursor that does not decode, or was made for another
/// listing, is a malformed request (400).
/// </summary>
internal static class OpaqueCursor
{
    private const int MaxLength = 512;

    /// <summary>Encodes the fields of a position under a <paramref name="kind"/> that says which listing it belongs to.</summary>
    public static string Encode(string kind, params string[] fields) =>
        Base64Url.EncodeToString(Encoding.UTF8.GetBytes(string.Join('\n', [kind, .. fields])));

    /// <summary>The fields of <paramref name="cursor"/> when it was made by <see cref="Encode"/> for <paramref name="kind"/> with <paramref name="count"/> fields.</summary>
    public static bool TryDecode(string? cursor, string kind, int count, [NotNullWhen(true)] out string[]? fields)
    {
        fields = null;
        if (string.IsNullOrEmpty(cursor) || cursor.Length > MaxLength)
        {
            return false;
        }

        var buffer = new byte[Base64Url.GetMaxDecodedLength(cursor.Length)];
        if (Base64Url.DecodeFromChars(cursor, buffer, out var consumed, out var written) != System.Buffers.OperationStatus.Done || consumed != cursor.Length)
        {
            return false;
        }

        string text;
        try
        {
            text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(buffer, 0, written);
        }
        catch (DecoderFallbackException)
        {
            return false;
        }

        var parts = text.Split('\n');
        if (parts.Length != count + 1 || parts[0] != kind)
        {
            return false;
        }

        fields = parts[1..];
        return true;
    }
}
