using System.Data.Common;
using Elemta.Contracts;

namespace Elemta.Storage;

/// <summary>
/// The queue SQL shared by the SQLite and PostgreSQL stores. The statements here are the same in both dialects
/// (operator actions differ only in the two-argument minimum: SQLite's scalar <c>MIN</c>, PostgreSQL's <c>LEAST</c>);
/// what differs stays in each store.
/// </summary>
internal static class QueueSql
{
    /// <summary>Inserts an entry or moves an existing one (<c>@domain</c>, <c>@id</c>, <c>@priority</c>, <c>@due</c>).</summary>
    public const string Upsert = """
        INSERT INTO elemta_queue (domain, message_id, priority, due_at) VALUES (@domain, @id, @priority, @due)
        ON CONFLICT (domain, message_id) DO UPDATE SET priority = excluded.priority, due_at = excluded.due_at
        """;

    /// <summary>Removes one entry (<c>@domain</c>, <c>@id</c>).</summary>
    public const string Remove = "DELETE FROM elemta_queue WHERE domain = @domain AND message_id = @id";

    /// <summary>Moves an existing entry, never creating one (<c>@domain</c>, <c>@id</c>, <c>@due</c>).</summary>
    public const string Reschedule = "UPDATE elemta_queue SET due_at = @due WHERE domain = @domain AND message_id = @id";

    /// <summary>Adds one attempt to the delivery history.</summary>
    public const string RecordAttempt = """
        INSERT INTO elemta_delivery_attempt (message_id, domain, started_at, duration_ms, remote_host, remote_address, tls, results)
        VALUES (@id, @domain, @started, @duration, @host, @address, @tls, @results)
        ON CONFLICT DO NOTHING
        """;

    private const int Held = (int)MessageQueueState.Held;

    /// <summary>The scope as a predicate over elemta_queue rows and one over elemta_message rows.</summary>
    public static (string Entries, string Messages) Scope(QueueScope scope) => scope switch
    {
        { MessageId: not null } => ("message_id = @id", "message_id = @id"),
        { Domain: not null } => ("domain = @domain", "message_id IN (SELECT message_id FROM elemta_queue WHERE domain = @domain)"),
        { State: not null } => ("message_id IN (SELECT message_id FROM elemta_message WHERE state = @state)", "state = @state"),
        _ => ("1 = 1", "1 = 1"),
    };

    /// <summary>
    /// The statements of <paramref name="action"/> over <paramref name="scope"/>: the domains to wake afterwards (or
    /// null), then the entries' update, then the listed messages' update — run in this order in one transaction,
    /// entries first because a whole-state scope reads the listed states that the last statement changes.
    /// </summary>
    public static (string? Domains, string Entries, string Messages) For(QueueAction action, QueueScope scope, string least)
    {
        var (entries, messages) = Scope(scope);
        return action switch
        {
            QueueAction.Hold => (
                null,
                $"UPDATE elemta_queue SET held = 1 WHERE held = 0 AND {entries}",
                $"""
                UPDATE elemta_message SET state = {Held}, updated_at = @now
                WHERE state IN (0, 1) AND {messages}
                    AND EXISTS (SELECT 1 FROM elemta_queue q WHERE q.message_id = elemta_message.message_id AND q.held = 1)
                """),
            QueueAction.Release => (
                $"SELECT DISTINCT domain FROM elemta_queue WHERE held = 1 AND {entries}",
                $"UPDATE elemta_queue SET held = 0, due_at = {least}(due_at, @now) WHERE held = 1 AND {entries}",
                $"""
                UPDATE elemta_message SET state = 0, updated_at = @now
                WHERE state = {Held} AND {messages}
                    AND NOT EXISTS (SELECT 1 FROM elemta_queue q WHERE q.message_id = elemta_message.message_id AND q.held = 1)
                """),
            QueueAction.RetryNow => (
                $"SELECT DISTINCT domain FROM elemta_queue WHERE held = 0 AND {entries}",
                $"UPDATE elemta_queue SET due_at = @now WHERE held = 0 AND due_at > @now AND {entries}",
                $"UPDATE elemta_message SET state = 0, updated_at = @now WHERE state = 1 AND {messages}"),
            _ => throw new ArgumentOutOfRangeException(nameof(action), action, "Deletes go through each message (DeleteMessageAsync)."),
        };
    }

    /// <summary>Binds <c>@now</c> and the scope's parameter (<c>@id</c>, <c>@domain</c> or <c>@state</c>) on either driver's command.</summary>
    public static TCommand Bind<TCommand>(TCommand command, QueueScope scope, long now)
        where TCommand : DbCommand
    {
        Add(command, "@now", now);
        if (scope.MessageId is not null)
        {
            Add(command, "@id", scope.MessageId);
        }

        if (scope.Domain is not null)
        {
            Add(command, "@domain", scope.Domain);
        }

        if (scope.State is { } state)
        {
            Add(command, "@state", (int)state);
        }

        return command;
    }

    private static void Add(DbCommand command, string name, object value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value;
        command.Parameters.Add(parameter);
    }

    /// <summary>The statements that give the entries and the unfinished listed messages in <paramref name="scope"/> a priority (<c>@priority</c>).</summary>
    public static (string Entries, string Messages) Priority(QueueScope scope)
    {
        var (entries, messages) = Scope(scope);
        return ($"UPDATE elemta_queue SET priority = @priority WHERE {entries}",
                $"UPDATE elemta_message SET priority = @priority, updated_at = @now WHERE state < 3 AND {messages}");
    }
}
