namespace Elemta.Storage.Tests;

// The storage contract tests, once per provider: the same assertions hold on the embedded SQLite file and on the
// cluster's PostgreSQL database.

public sealed class SqliteMessageStoreTests : MessageStoreTests
{
    protected override Task<IStoreFixture> CreateStoreAsync() => SqliteStoreFixture.CreateAsync();
}

public sealed class PostgresMessageStoreTests : MessageStoreTests
{
    protected override async Task<IStoreFixture> CreateStoreAsync() => await PostgresStoreFixture.CreateAsync();
}

public sealed class SqliteMessageContentTests : MessageContentTests
{
    protected override Task<IStoreFixture> CreateStoreAsync() => SqliteStoreFixture.CreateAsync();
}

public sealed class PostgresMessageContentTests : MessageContentTests
{
    protected override async Task<IStoreFixture> CreateStoreAsync() => await PostgresStoreFixture.CreateAsync();
}

public sealed class SqliteQueueStoreTests : QueueStoreTests
{
    protected override Task<IStoreFixture> CreateStoreAsync() => SqliteStoreFixture.CreateAsync();
}

public sealed class PostgresQueueStoreTests : QueueStoreTests
{
    protected override async Task<IStoreFixture> CreateStoreAsync() => await PostgresStoreFixture.CreateAsync();
}

public sealed class SqliteQueueOperationsTests : QueueOperationsTests
{
    protected override Task<IStoreFixture> CreateStoreAsync() => SqliteStoreFixture.CreateAsync();
}

public sealed class PostgresQueueOperationsTests : QueueOperationsTests
{
    protected override async Task<IStoreFixture> CreateStoreAsync() => await PostgresStoreFixture.CreateAsync();
}

public sealed class SqliteAuditLogTests : AuditLogTests
{
    protected override Task<IStoreFixture> CreateStoreAsync() => SqliteStoreFixture.CreateAsync();
}

public sealed class PostgresAuditLogTests : AuditLogTests
{
    protected override async Task<IStoreFixture> CreateStoreAsync() => await PostgresStoreFixture.CreateAsync();
}
