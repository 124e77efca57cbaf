using Elemta.Contracts;

namespace Elemta.Api.Messages;

/// <summary>The answer to <c>POST /api/messages</c>: the queued message, stored durably.</summary>
/// <param name="MessageId">The queue id (its detail is at <c>/api/queue/message/{id}</c>).</param>
/// <param name="Sender">The envelope sender; empty for the null sender.</param>
/// <param name="Recipients">The envelope recipients, duplicates removed.</param>
/// <param name="Size">The stored message's size in octets (CRLF line ends).</param>
/// <param name="Priority">The delivery priority.</param>
public sealed record SubmittedMessageModel(string MessageId, string Sender, IReadOnlyList<string> Recipients, long Size, MessagePriority Priority);
