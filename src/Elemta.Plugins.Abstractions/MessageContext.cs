namespace Elemta.Plugins;

/// <summary>One header field of the message: its name and its unfolded value (leading white space removed).</summary>
/// <param name="Name">The field name, e.g. <c>Subject</c>.</param>
/// <param name="Value">The field body, with folding line breaks removed.</param>
public sealed record MessageHeader(string Name, string Value);

/// <summary>
/// A complete message, after the final dot (or BDAT LAST) and before it is queued, shown to
/// <see cref="IMessageHooks"/> and <see cref="IContentFilterHooks"/>. The headers and content are read-only; changes
/// are asked for through <see cref="AddHeader"/>, <see cref="RemoveHeader(string)"/> and <see cref="Recipients"/>, and the
/// server applies them after every message hook has run and before the message is committed.
/// </summary>
public sealed class MessageContext
{
    private readonly List<MessageHeader> _added = [];
    private readonly List<string> _removed = [];
    private readonly List<(string Name, Func<string, bool> Value)> _removedWhere = [];
    private readonly List<AuthenticationResult> _results = [];

    internal MessageContext(string messageId, string sender, IReadOnlyList<MessageHeader> headers, ReadOnlyMemory<byte> content, List<string> recipients)
    {
        MessageId = messageId;
        Sender = sender;
        Headers = headers;
        Content = content;
        Recipients = recipients;
    }

    /// <summary>The queue id the message will have.</summary>
    public string MessageId { get; }

    /// <summary>The envelope sender (MAIL FROM), empty for the null sender.</summary>
    public string Sender { get; }

    /// <summary>
    /// The envelope recipients. A message hook may rewrite them (add, remove, replace); the message is queued for the
    /// list as it stands after the last hook. An empty list is refused with <c>554 5.5.1</c>.
    /// </summary>
    public IList<string> Recipients { get; }

    /// <summary>The header fields as received (and as completed by the server: Received, Message-ID, Date), in order.</summary>
    public IReadOnlyList<MessageHeader> Headers { get; }

    /// <summary>
    /// The whole message as it will be stored, headers and body. Valid only during the hook call: the server reuses
    /// the buffer afterwards, so copy what must outlive the call.
    /// </summary>
    public ReadOnlyMemory<byte> Content { get; }

    /// <summary>Header fields to add at the top of the header section, in the order asked.</summary>
    public IReadOnlyList<MessageHeader> AddedHeaders => _added;

    /// <summary>Names of header fields to remove (every field of that name, case-insensitively).</summary>
    public IReadOnlyList<string> RemovedHeaders => _removed;

    /// <summary>
    /// The mail authentication results recorded for this message so far (SPF, DKIM, DMARC, ARC), in the order
    /// recorded. A message hook that checks something records its result here; after every message hook,
    /// <see cref="IAuthenticationHooks"/> are shown the list.
    /// </summary>
    public IList<AuthenticationResult> AuthenticationResults => _results;

    /// <summary>Asks for a header field to be added at the top of the header section.</summary>
    /// <param name="name">The field name: printable ASCII, no colon or space (RFC 5322 §2.2).</param>
    /// <param name="value">The field body: one line without CR or LF.</param>
    /// <exception cref="ArgumentException">The name or value is not a valid header field.</exception>
    public void AddHeader(string name, string value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        if (!IsFieldName(name))
        {
            throw new ArgumentException($"'{name}' is not a header field name (RFC 5322 §2.2: printable ASCII except colon).", nameof(name));
        }

        if (value.Contains('\r', StringComparison.Ordinal) || value.Contains('\n', StringComparison.Ordinal) || value.Contains('\0', StringComparison.Ordinal))
        {
            throw new ArgumentException("A header value must be one line without CR, LF or NUL.", nameof(value));
        }

        _added.Add(new MessageHeader(name, value));
    }

    /// <summary>Asks for every header field named <paramref name="name"/> (case-insensitively) to be removed; fields added by <see cref="AddHeader"/> stay.</summary>
    /// <param name="name">The field name.</param>
    /// <exception cref="ArgumentException">The name is not a header field name.</exception>
    public void RemoveHeader(string name)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsFieldName(name))
        {
            throw new ArgumentException($"'{name}' is not a header field name.", nameof(name));
        }

        _removed.Add(name);
    }

    /// <summary>
    /// Asks for the header fields named <paramref name="name"/> whose unfolded value satisfies <paramref name="value"/>
    /// to be removed (e.g. only the <c>Authentication-Results</c> fields that claim this server's name); fields added
    /// by <see cref="AddHeader"/> stay.
    /// </summary>
    /// <param name="name">The field name.</param>
    /// <param name="value">Decides, from a field's value, whether to remove it; called after the hooks, once per field.</param>
    /// <exception cref="ArgumentException">The name is not a header field name.</exception>
    public void RemoveHeader(string name, Func<string, bool> value)
    {
        ArgumentNullException.ThrowIfNull(name);
        ArgumentNullException.ThrowIfNull(value);
        if (!IsFieldName(name))
        {
            throw new ArgumentException($"'{name}' is not a header field name.", nameof(name));
        }

        _removedWhere.Add((name, value));
    }

    /// <summary>Whether <paramref name="header"/> is to be removed by <see cref="RemoveHeader(string)"/> or <see cref="RemoveHeader(string, Func{string, bool})"/>.</summary>
    /// <param name="header">A field of <see cref="Headers"/>.</param>
    public bool IsRemoved(MessageHeader header)
    {
        ArgumentNullException.ThrowIfNull(header);
        foreach (var name in _removed)
        {
            if (string.Equals(name, header.Name, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        foreach (var (name, value) in _removedWhere)
        {
            if (string.Equals(name, header.Name, StringComparison.OrdinalIgnoreCase) && value(header.Value))
            {
                return true;
            }
        }

        return false;
    }

    private static bool IsFieldName(string name) => name.Length > 0 && name.All(c => c is > ' ' and < '\x7f' and not ':');
}
