using System.Buffers;
using System.Text;
using Elemta.Contracts;
using Elemta.Smtp.Protocol;

namespace Elemta.Smtp.Server;

/// <summary>The DSN extension (RFC 3461): RET and ENVID on MAIL, NOTIFY and ORCPT on RCPT, kept for bounces.</summary>
internal sealed partial class SmtpSession
{
    /// <summary>
    /// Longest MAIL or RCPT command line, CRLF included. RFC 5321 §4.5.3.1.4 lets extensions raise the 512 octets
    /// of other commands: a valid RCPT may carry a 500-character ORCPT (RFC 3461 §4.2) and NOTIFY, a MAIL a
    /// 100-character ENVID besides SIZE, BODY and the rest. 2048 is Postfix's <c>line_length_limit</c>.
    /// </summary>
    private const int MaxMailCommandLine = 2048;

    /// <summary>MAIL and RCPT carry parameters (RFC 5321 §4.5.3.1.4 lets extensions lengthen them); AUTH an initial response (RFC 4954 §4).</summary>
    private static bool IsLongCommand(ReadOnlySequence<byte> line)
    {
        Span<byte> verb = stackalloc byte[5];
        if (line.Length < verb.Length)
        {
            return false;
        }

        line.Slice(0, verb.Length).CopyTo(verb);
        return Ascii.EqualsIgnoreCase(verb, "MAIL "u8) || Ascii.EqualsIgnoreCase(verb, "RCPT "u8) || Ascii.EqualsIgnoreCase(verb, "AUTH "u8);
    }

    private string? _dsnReturn;
    private string? _dsnEnvelopeId;
    private readonly List<RecipientDsn> _recipientDsn = [];

    /// <summary>
    /// Takes a DSN parameter of MAIL (RFC 3461 §4.3, §4.4). Returns false after answering <c>501 5.5.4</c> for a
    /// value that is not valid. The values are kept only if the MAIL command is accepted as a whole.
    /// </summary>
    private bool TryMailDsnParameter(string keyword, string? value, ref string? ret, ref string? envelopeId)
    {
        if (keyword == "RET")
        {
            ret = DsnParameterParser.ParseReturn(value);
            if (ret is null)
            {
                Error(501, "5.5.4", "Syntax: RET=FULL or RET=HDRS");
                return false;
            }

            return true;
        }

        envelopeId = DsnParameterParser.ParseEnvelopeId(value);
        if (envelopeId is null)
        {
            Error(501, "5.5.4", $"Syntax: ENVID=xtext of at most {DsnParameterParser.MaxEnvelopeId} characters");
            return false;
        }

        return true;
    }

    /// <summary>
    /// Checks the parameters of RCPT: NOTIFY and ORCPT after EHLO (RFC 3461 §4.1, §4.2), invalid values
    /// <c>501 5.5.4</c>, anything else <c>555 5.5.4</c> (RFC 5321 §4.1.1.11). Returns false after answering; on
    /// success <paramref name="dsn"/> holds the recipient's DSN parameters, or null when it gave none.
    /// </summary>
    private bool TryRecipientParameters(SmtpPath path, out RecipientDsn? dsn)
    {
        dsn = null;
        string? notify = null;
        string? originalRecipient = null;
        foreach (var (keyword, value) in path.Parameters)
        {
            switch (keyword)
            {
                case "NOTIFY" when _extended:
                    notify = DsnParameterParser.ParseNotify(value);
                    if (notify is null)
                    {
                        Error(501, "5.5.4", "Syntax: NOTIFY=NEVER or NOTIFY=SUCCESS,FAILURE,DELAY (any of them, once each)");
                        return false;
                    }

                    break;
                case "ORCPT" when _extended:
                    originalRecipient = DsnParameterParser.ParseOriginalRecipient(value);
                    if (originalRecipient is null)
                    {
                        Error(501, "5.5.4", $"Syntax: ORCPT=addr-type;xtext of at most {DsnParameterParser.MaxOriginalRecipient} characters");
                        return false;
                    }

                    break;
                default:
                    Error(555, "5.5.4", $"Unsupported RCPT parameter {keyword}");
                    return false;
            }
        }

        if (notify is not null || originalRecipient is not null)
        {
            dsn = new RecipientDsn(path.Mailbox, notify, originalRecipient);
        }

        return true;
    }

    /// <summary>
    /// Records an accepted recipient's DSN parameters. Call before the recipient joins the transaction: a recipient
    /// given twice keeps the parameters of its first RCPT, as the envelope keeps its first spelling.
    /// </summary>
    private void AddRecipientDsn(RecipientDsn? dsn)
    {
        if (dsn is not null && !_recipients.Contains(dsn.Address, StringComparer.OrdinalIgnoreCase))
        {
            _recipientDsn.Add(dsn);
        }
    }

    /// <summary>The DSN parameters of the transaction, or null when the client gave none (RFC 3461: defaults apply).</summary>
    private DsnParameters? TransactionDsn() =>
        _dsnReturn is null && _dsnEnvelopeId is null && _recipientDsn.Count == 0
            ? null
            : new DsnParameters(_dsnReturn, _dsnEnvelopeId, [.. _recipientDsn]);

    private void ResetDsn()
    {
        _dsnReturn = null;
        _dsnEnvelopeId = null;
        _recipientDsn.Clear();
    }
}
