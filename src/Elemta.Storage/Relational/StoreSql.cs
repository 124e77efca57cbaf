using System.Globalization;
using Elemta.Contracts;

namespace Elemta.Storage.Relational;

/// <summary>
/// Every statement of Elemta's stores, once, keyed by what it does (as Orleans' ADO.NET providers key their queries).
/// A statement that reads the same in both dialects is one constant; one that differs is a <see cref="DialectSql"/>
/// with both texts side by side. Times are Unix milliseconds in both schemas. Enum values come from
/// <see cref="MessageQueueState"/>, never from number literals.
/// </summary>
internal static class StoreSql
{
    // Declared first: the statements below are built from them (static fields initialise in textual order).
    private static readonly string Active = Value(MessageQueueState.Active);
    private static readonly string Deferred = Value(MessageQueueState.Deferred);
    private static readonly string Held = Value(MessageQueueState.Held);

    // Failed and Delivered are the final states (MessageQueueStateExtensions.IsFinal), and the highest values.
    private static readonly string FirstFinal = Value(MessageQueueState.Failed);

    // ---- Queue entries (one row per domain and message) -------------------------------------------------------

    /// <summary>Inserts an entry or moves an existing one (<c>@domain</c>, <c>@id</c>, <c>@priority</c>, <c>@due</c>).</summary>
    public const string UpsertEntry = """
        INSERT INTO elemta_queue (domain, message_id, priority, due_at) VALUES (@domain, @id, @priority, @due)
        ON CONFLICT (domain, message_id) DO UPDATE SET priority = excluded.priority, due_at = excluded.due_at
        """;

    /// <summary>Holds every entry of a message just accepted (<c>@id</c>), in its acceptance's commit.</summary>
    public const string HoldAccepted = "UPDATE elemta_queue SET held = 1 WHERE message_id = @id";

    /// <summary>Lists a message just accepted as Held (<c>@id</c>), in its acceptance's commit.</summary>
    public static readonly string ListAcceptedHeld = $"UPDATE elemta_message SET state = {Held} WHERE message_id = @id";

    /// <summary>Removes one entry (<c>@domain</c>, <c>@id</c>).</summary>
    public const string RemoveEntry = "DELETE FROM elemta_queue WHERE domain = @domain AND message_id = @id";

    /// <summary>Moves an existing entry, never creating one (<c>@domain</c>, <c>@id</c>, <c>@due</c>).</summary>
    public const string RescheduleEntry = "UPDATE elemta_queue SET due_at = @due WHERE domain = @domain AND message_id = @id";

    /// <summary>The earliest due time of a domain's entries that are not held.</summary>
    public const string NextDue = "SELECT MIN(due_at) FROM elemta_queue WHERE domain = @domain AND held = 0";

    /// <summary>A domain's entries and held entries, from the counters (slotted on PostgreSQL, hence the sums).</summary>
    public const string DomainCount =
        "SELECT CAST(COALESCE(SUM(queued), 0) AS BIGINT), CAST(COALESCE(SUM(held), 0) AS BIGINT) FROM elemta_domain_count WHERE domain = @domain";

    /// <summary>Domains with an entry due by <c>@due</c>.</summary>
    public const string DomainsDue = "SELECT DISTINCT domain FROM elemta_queue WHERE held = 0 AND due_at <= @due LIMIT @limit";

    /// <summary>Where an entry stands: held, due, and the entries not held before it.</summary>
    public const string Position = """
        SELECT e.held, e.due_at,
            (SELECT COUNT(*) FROM elemta_queue o WHERE o.domain = e.domain AND o.held = 0
                AND (o.priority < e.priority OR (o.priority = e.priority AND o.due_at < e.due_at)))
        FROM elemta_queue e WHERE e.domain = @domain AND e.message_id = @id
        """;

    /// <summary>Due entries of a domain whose message was received before <c>@before</c> (to expire).</summary>
    public const string DueReceivedBefore = """
        SELECT q.message_id, q.priority, q.due_at FROM elemta_queue q JOIN elemta_message m ON m.message_id = q.message_id
        WHERE q.domain = @domain AND q.held = 0 AND q.due_at <= @now AND m.received_at < @before
        LIMIT @limit
        """;

    // The due entries of a domain, highest priority first, found by a skip-scan of the work index (one probe per
    // priority class) so that a domain with a million deferred entries costs as little as one with ten.

    /// <summary>The distinct priorities of a domain's entries not held, as <c>p(v)</c>: one index probe per class.</summary>
    private const string PrioritiesCte = """
        WITH RECURSIVE p(v) AS (
            SELECT MIN(priority) FROM elemta_queue WHERE domain = @domain AND held = 0
            UNION ALL
            SELECT (SELECT MIN(priority) FROM elemta_queue WHERE domain = @domain AND held = 0 AND priority > p.v) FROM p WHERE p.v IS NOT NULL)

        """;

    /// <summary>SQLite: the distinct priorities of a domain's entries not held (then <see cref="DueOfPriority"/> per class).</summary>
    public const string DuePriorities = PrioritiesCte + "SELECT v FROM p WHERE v IS NOT NULL";

    /// <summary>SQLite: the earliest due entries of one priority class.</summary>
    public const string DueOfPriority = """
        SELECT message_id, due_at FROM elemta_queue
        WHERE domain = @domain AND held = 0 AND priority = @priority AND due_at <= @now
        ORDER BY due_at
        LIMIT @limit
        """;

    /// <summary>With lateral joins (PostgreSQL): the same walk in one statement, one round trip.</summary>
    public const string DueLateral = PrioritiesCte + """
        SELECT e.message_id, p.v, e.due_at
        FROM p CROSS JOIN LATERAL (
            SELECT message_id, due_at FROM elemta_queue
            WHERE domain = @domain AND held = 0 AND priority = p.v AND due_at <= @now
            ORDER BY due_at LIMIT @limit) e
        WHERE p.v IS NOT NULL
        ORDER BY p.v, e.due_at
        LIMIT @limit
        """;

    // ---- Listed messages and recorded outcomes ----------------------------------------------------------------

    /// <summary>A message's listing row at acceptance; an existing row (a re-accepted id) is kept as it is.</summary>
    public static readonly string ListMessage = $"""
        INSERT INTO elemta_message (message_id, state, priority, sender, recipients, size, received_at, updated_at)
        VALUES (@id, {Active}, @priority, @sender, @recipients, @size, @received, @received)
        ON CONFLICT (message_id) DO NOTHING
        """;

    /// <summary>
    /// The listed state after an attempt. A held entry keeps its message listed as Held until released, whatever the
    /// attempt said; a finished message is Failed or Delivered whatever was held. The casts give PostgreSQL the
    /// type of a NULL parameter; SQLite ignores them.
    /// </summary>
    public static readonly string RecordState = $"""
        UPDATE elemta_message
        SET state = CASE
                WHEN @state >= {FirstFinal} THEN @state
                WHEN EXISTS (SELECT 1 FROM elemta_queue q WHERE q.message_id = @id AND q.held = 1) THEN {Held}
                ELSE @state END,
            updated_at = @at,
            finished_at = CASE WHEN @state >= {FirstFinal} THEN @at ELSE NULL END,
            recipient_states = COALESCE(CAST(@recipients AS TEXT), recipient_states),
            envelope = COALESCE(CAST(@envelope AS TEXT), envelope)
        WHERE message_id = @id
        """;

    /// <summary>
    /// Adds outcomes to the per-minute counters. PostgreSQL splits each minute into 16 slots by server process, so
    /// concurrent transactions do not queue on one row lock; SQLite has one writer and one row per minute.
    /// </summary>
    public static readonly DialectSql RecordRate = new(
        Sqlite: """
            INSERT INTO elemta_delivery_rate (minute, delivered, deferred, failed) VALUES (@minute, @delivered, @deferred, @failed)
            ON CONFLICT (minute) DO UPDATE SET delivered = delivered + excluded.delivered, deferred = deferred + excluded.deferred,
                failed = failed + excluded.failed
            """,
        Postgres: """
            INSERT INTO elemta_delivery_rate (minute, slot, delivered, deferred, failed) VALUES (@minute, pg_backend_pid() % 16, @delivered, @deferred, @failed)
            ON CONFLICT (minute, slot) DO UPDATE SET delivered = elemta_delivery_rate.delivered + excluded.delivered,
                deferred = elemta_delivery_rate.deferred + excluded.deferred, failed = elemta_delivery_rate.failed + excluded.failed
            """);

    /// <summary>Adds one attempt to the delivery history (a repeated record is ignored).</summary>
    public const string RecordAttempt = """
        INSERT INTO elemta_delivery_attempt (message_id, domain, started_at, duration_ms, remote_host, remote_address, tls, results)
        VALUES (@id, @domain, @started, @duration, @host, @address, @tls, @results)
        ON CONFLICT DO NOTHING
        """;

    /// <summary>A message's listed state, priority, recipients and (once finished) envelope.</summary>
    public const string ReadRecord = "SELECT state, priority, recipient_states, envelope FROM elemta_message WHERE message_id = @id";

    // ---- Message content ------------------------------------------------------------------------------------

    /// <summary>The content and envelope of a message; accepting an id again replaces them.</summary>
    public static readonly DialectSql InsertBody = new(
        Sqlite: """
            INSERT OR REPLACE INTO elemta_message_body (message_id, created_at, size, content, envelope)
            VALUES (@id, @created, @size, @content, @envelope)
            """,
        Postgres: """
            INSERT INTO elemta_message_body (message_id, created_at, size, content, envelope)
            VALUES (@id, @created, @size, @content, @envelope)
            ON CONFLICT (message_id) DO UPDATE SET created_at = excluded.created_at, size = excluded.size,
                content = excluded.content, envelope = excluded.envelope
            """);

    /// <summary>SQLite with incremental BLOB I/O: reserves the content's bytes, which are then written in place.</summary>
    public const string InsertBodyReserved = """
        INSERT OR REPLACE INTO elemta_message_body (message_id, created_at, size, content, envelope)
        VALUES (@id, @created, @size, zeroblob(@size), @envelope)
        RETURNING rowid
        """;

    /// <summary>Deletes a message's content and envelope.</summary>
    public const string DeleteBody = "DELETE FROM elemta_message_body WHERE message_id = @id";

    /// <summary>The envelope as accepted.</summary>
    public const string ReadEnvelope = "SELECT envelope FROM elemta_message_body WHERE message_id = @id";

    /// <summary>The content.</summary>
    public const string ReadContent = "SELECT content FROM elemta_message_body WHERE message_id = @id";

    // ---- Operator actions, listings, statistics -------------------------------------------------------------

    /// <summary>Every trace of a message, entries first, listing row last.</summary>
    public static readonly string[] DeleteMessage =
    [
        "DELETE FROM elemta_queue WHERE message_id = @id",
        "DELETE FROM elemta_delivery_attempt WHERE message_id = @id",
        DeleteBody,
        "DELETE FROM elemta_message WHERE message_id = @id",
    ];

    /// <summary>
    /// Messages per state: the per-priority counters added up (a few rows per state; slotted on PostgreSQL). One set of
    /// counters serves both figures, so each message event updates one counter row, not two (migrations 0007/0009).
    /// </summary>
    public const string StateCounts = "SELECT state, CAST(SUM(count) AS BIGINT) FROM elemta_priority_count GROUP BY state";

    /// <summary>When the oldest message not yet finished was received: one index probe per pending state, not a scan.</summary>
    public static readonly string OldestPending = $"""
        SELECT MIN(x) FROM (
            SELECT MIN(received_at) AS x FROM elemta_message WHERE state = {Active}
            UNION ALL SELECT MIN(received_at) FROM elemta_message WHERE state = {Deferred}
            UNION ALL SELECT MIN(received_at) FROM elemta_message WHERE state = {Held}) AS pending
        """;

    /// <summary>The domains with the most entries.</summary>
    public const string TopDomains = """
        SELECT domain, CAST(SUM(queued) AS BIGINT) AS total, CAST(SUM(held) AS BIGINT) FROM elemta_domain_count
        GROUP BY domain HAVING SUM(queued) > 0 ORDER BY total DESC, domain LIMIT @top
        """;

    /// <summary>Outcomes since minute <c>@from</c>.</summary>
    public const string RatesSince = """
        SELECT CAST(COALESCE(SUM(delivered), 0) AS BIGINT), CAST(COALESCE(SUM(deferred), 0) AS BIGINT), CAST(COALESCE(SUM(failed), 0) AS BIGINT)
        FROM elemta_delivery_rate WHERE minute >= @from
        """;

    /// <summary>The outcome counters of each minute from minute <c>@from</c> on, oldest first.</summary>
    public const string RatesPerMinute = """
        SELECT minute, CAST(delivered AS BIGINT), CAST(deferred AS BIGINT), CAST(failed AS BIGINT)
        FROM elemta_delivery_rate WHERE minute >= @from ORDER BY minute
        """;

    /// <summary>Drops outcome counters older than minute <c>@minute</c>.</summary>
    public const string PruneRates = "DELETE FROM elemta_delivery_rate WHERE minute < @minute";

    /// <summary>Listed messages in a state, oldest first, received after <c>@after</c>.</summary>
    public const string ListByState = """
        SELECT message_id, state, priority, sender, recipients, size, received_at, updated_at FROM elemta_message
        WHERE state = @state AND received_at > @after
        ORDER BY received_at LIMIT @limit
        """;

    // Every combination of ListPage's arguments per dialect, built once: the SQLite executor prepares each text once.
    private static readonly string[] SqliteListPages = [.. Enumerable.Range(0, 24).Select(i => BuildListPage(SqlDialect.Sqlite, i))];
    private static readonly string[] PostgresListPages = [.. Enumerable.Range(0, 24).Select(i => BuildListPage(SqlDialect.Postgres, i))];

    /// <summary>
    /// One page of a state's listing after the row (<c>@afterPriority</c>, <c>@after</c>, <c>@afterId</c>): in
    /// (received_at, message_id) order, oldest or newest first, or in (priority, received_at, message_id) order, most
    /// urgent first; optionally only messages from <c>@sender</c>, with an entry in <c>@domain</c>'s queue, or with
    /// <c>@recipient</c> (lower case) among their envelope's recipients. The row-value comparison keeps messages with
    /// equal keys apart, so a page boundary between two of them skips or repeats neither. Each order has an index
    /// that ends with the key — (state, received_at) and (state, priority, received_at) carry the primary key on
    /// SQLite's WITHOUT ROWID table; PostgreSQL's list it (migrations 0007, 0008) — so a page is one index range read
    /// and never an OFFSET or a count. A filter is applied to the rows as that range is read: a rare sender, domain or
    /// recipient costs a longer walk, never a sort.
    /// </summary>
    public static string ListPage(SqlDialect dialect, ListOrder order, bool bySender, bool byDomain, bool byRecipient)
    {
        var index = ((int)order * 8) | (bySender ? 1 : 0) | (byDomain ? 2 : 0) | (byRecipient ? 4 : 0);
        return (ReferenceEquals(dialect, SqlDialect.Sqlite) ? SqliteListPages : PostgresListPages)[index];
    }

    /// <summary>The orders of <see cref="ListPage"/>.</summary>
    internal enum ListOrder
    {
        /// <summary>Oldest first.</summary>
        Oldest = 0,

        /// <summary>Newest first.</summary>
        Newest = 1,

        /// <summary>Most urgent priority first, then oldest first.</summary>
        Priority = 2,
    }

    private static string BuildListPage(SqlDialect dialect, int index)
    {
        var order = (ListOrder)(index / 8);
        var (key, after, direction) = order switch
        {
            ListOrder.Newest => ("(received_at, message_id) <", "(@after, @afterId)", "received_at DESC, message_id DESC"),
            ListOrder.Priority => ("(priority, received_at, message_id) >", "(@afterPriority, @after, @afterId)", "priority ASC, received_at ASC, message_id ASC"),
            _ => ("(received_at, message_id) >", "(@after, @afterId)", "received_at ASC, message_id ASC"),
        };

        // The envelope is in the listing row once the message finished, in the content's row before.
        const string envelope = "COALESCE(m.envelope, (SELECT b.envelope FROM elemta_message_body b WHERE b.message_id = m.message_id))";
        var recipient = ReferenceEquals(dialect, SqlDialect.Sqlite)
            ? $"AND EXISTS (SELECT 1 FROM json_each({envelope}, '$.recipients') r WHERE lower(r.value) = @recipient)"
            : $"AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(CAST({envelope} AS jsonb) -> 'recipients') r(v) WHERE lower(r.v) = @recipient)";
        return $"""
            SELECT message_id, state, priority, sender, recipients, size, received_at, updated_at FROM elemta_message m
            WHERE state = @state AND {key} {after}
            {((index & 1) != 0 ? "AND sender = @sender" : string.Empty)}
            {((index & 2) != 0 ? "AND EXISTS (SELECT 1 FROM elemta_queue q WHERE q.domain = @domain AND q.message_id = m.message_id)" : string.Empty)}
            {((index & 4) != 0 ? recipient : string.Empty)}
            ORDER BY {direction} LIMIT @limit
            """;
    }

    /// <summary>Messages per state and priority, from the counters (slotted on PostgreSQL).</summary>
    public const string PriorityCounts = "SELECT state, priority, CAST(SUM(count) AS BIGINT) FROM elemta_priority_count GROUP BY state, priority HAVING SUM(count) <> 0";

    /// <summary>Finished messages of a state that finished before <c>@before</c>; a message finishes after it was received, so the (state, received_at) index bounds the scan.</summary>
    public const string FinishedBefore = """
        SELECT message_id FROM elemta_message
        WHERE state = @state AND received_at < @before AND finished_at < @before
        LIMIT @limit
        """;

    /// <summary>A message's recorded attempts, oldest first.</summary>
    public const string Attempts = """
        SELECT domain, started_at, duration_ms, remote_host, remote_address, tls, results FROM elemta_delivery_attempt
        WHERE message_id = @id ORDER BY started_at, domain
        """;

    /// <summary>The ids of the messages in a scope.</summary>
    public static string MessageIds(QueueScope scope) => scope switch
    {
        { MessageId: not null } => """
            SELECT message_id FROM elemta_message WHERE message_id = @id
            UNION SELECT message_id FROM elemta_queue WHERE message_id = @id
            """,
        { Domain: not null } => "SELECT DISTINCT message_id FROM elemta_queue WHERE domain = @domain LIMIT @limit",
        { State: not null } => "SELECT message_id FROM elemta_message WHERE state = @state ORDER BY received_at LIMIT @limit",
        _ => "SELECT message_id FROM elemta_message LIMIT @limit",
    };

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
    public static (string? Domains, string Entries, string Messages) For(QueueAction action, QueueScope scope, SqlDialect dialect)
    {
        var (entries, messages) = Scope(scope);
        return action switch
        {
            QueueAction.Hold => (
                null,
                $"UPDATE elemta_queue SET held = 1 WHERE held = 0 AND {entries}",
                $"""
                UPDATE elemta_message SET state = {Held}, updated_at = @now
                WHERE state IN ({Active}, {Deferred}) AND {messages}
                    AND EXISTS (SELECT 1 FROM elemta_queue q WHERE q.message_id = elemta_message.message_id AND q.held = 1)
                """),
            QueueAction.Release => (
                $"SELECT DISTINCT domain FROM elemta_queue WHERE held = 1 AND {entries}",
                $"UPDATE elemta_queue SET held = 0, due_at = {dialect.Least}(due_at, @now) WHERE held = 1 AND {entries}",
                $"""
                UPDATE elemta_message SET state = {Active}, updated_at = @now
                WHERE state = {Held} AND {messages}
                    AND NOT EXISTS (SELECT 1 FROM elemta_queue q WHERE q.message_id = elemta_message.message_id AND q.held = 1)
                """),
            QueueAction.RetryNow => (
                $"SELECT DISTINCT domain FROM elemta_queue WHERE held = 0 AND {entries}",
                $"UPDATE elemta_queue SET due_at = @now WHERE held = 0 AND due_at > @now AND {entries}",
                $"UPDATE elemta_message SET state = {Active}, updated_at = @now WHERE state = {Deferred} AND {messages}"),
            _ => throw new ArgumentOutOfRangeException(nameof(action), action, "Deletes go through each message (DeleteMessageAsync)."),
        };
    }

    /// <summary>The statements that give the entries and the unfinished listed messages in <paramref name="scope"/> a priority (<c>@priority</c>).</summary>
    public static (string Entries, string Messages) Priority(QueueScope scope)
    {
        var (entries, messages) = Scope(scope);
        return ($"UPDATE elemta_queue SET priority = @priority WHERE {entries}",
                $"UPDATE elemta_message SET priority = @priority, updated_at = @now WHERE state < {FirstFinal} AND {messages}");
    }

    // ---- Audit log ------------------------------------------------------------------------------------------

    /// <summary>Appends one audit record.</summary>
    public const string AppendAudit = "INSERT INTO elemta_audit (at, actor, action, subject, detail) VALUES (@at, @actor, @action, @subject, @detail)";

    /// <summary>The latest audit records before id <c>@before</c>, newest first.</summary>
    public const string ReadAudit = "SELECT id, at, actor, action, subject, detail FROM elemta_audit WHERE id < @before ORDER BY id DESC LIMIT @limit";

    /// <summary>The latest audit records about one subject before id <c>@before</c>, newest first.</summary>
    public const string ReadAuditOfSubject = "SELECT id, at, actor, action, subject, detail FROM elemta_audit WHERE subject = @subject AND id < @before ORDER BY id DESC LIMIT @limit";

    private static string Value(MessageQueueState state) => ((int)state).ToString(CultureInfo.InvariantCulture);
}
