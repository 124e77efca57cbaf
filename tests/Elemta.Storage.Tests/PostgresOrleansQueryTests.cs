using System.Data;
using System.Data.Common;
using System.Globalization;
using Npgsql;

namespace Elemta.Storage.Tests;

/// <summary>
/// The SQL that Orleans' ADO.NET providers read from <c>OrleansQuery</c> on PostgreSQL, run the way those providers
/// run it (Orleans' DbExtensions): a fresh connection per call, parameters named without prefix and typed by the
/// CLR→DbType map (DateTime as <see cref="DbType.DateTime"/>, addresses and grain ids as AnsiString), null as DBNull,
/// every row of every result set collected. Grain storage, cluster membership and reminders.
/// </summary>
public sealed class PostgresOrleansQueryTests : IAsyncLifetime
{
    private const string ServiceId = "elemta-test";
    private const string Cluster = "cluster-a";
    private static readonly DateTime T0 = new(2026, 3, 2, 10, 0, 0, 123, DateTimeKind.Utc);
    private PostgresStoreFixture _store = null!;

    public async Task InitializeAsync() => _store = await PostgresStoreFixture.CreateAsync();

    public async Task DisposeAsync() => await _store.DisposeAsync();

    [Fact]
    public async Task Every_query_key_of_the_three_providers_is_present()
    {
        var keys = (await RunAsync("SELECT QueryKey FROM OrleansQuery", _ => { }, r => r.GetString(0), raw: true)).ToHashSet();

        Assert.Superset(new HashSet<string>
        {
            "WriteToStorageKey", "ReadFromStorageKey", "ClearStorageKey", "DeleteStorageKey",
            "InsertMembershipVersionKey", "InsertMembershipKey", "UpdateMembershipKey", "UpdateIAmAlivetimeKey", "MembershipReadRowKey",
            "MembershipReadAllKey", "DeleteMembershipTableEntriesKey", "GatewaysQueryKey", "CleanupDefunctSiloEntriesKey", "CleanupDefunctSiloEntryKey",
            "UpsertReminderRowKey", "ReadReminderRowsKey", "ReadReminderRowKey", "ReadRangeRows1Key", "ReadRangeRows2Key", "DeleteReminderRowKey", "DeleteReminderRowsKey",
        }, keys);
    }

    // ---- Grain storage ----

    [Fact]
    public async Task Grain_state_writes_version_by_version_and_refuses_stale_ones()
    {
        Assert.Equal([1], await WriteStateAsync(null, [1]));
        Assert.Equal([2], await WriteStateAsync(1, [2]));

        Assert.Equal([1], await WriteStateAsync(1, [99]));
        Assert.Empty(await WriteStateAsync(null, [99]));
        Assert.Equal([5], await WriteStateAsync(5, [99]));

        var (payload, version) = Assert.Single(await ReadStateAsync());
        Assert.Equal(new byte[] { 2 }, payload);
        Assert.Equal(2, version);
    }

    [Fact]
    public async Task Grain_state_read_of_a_grain_never_written_returns_no_row_and_large_payloads_round_trip()
    {
        Assert.Empty(await ReadStateAsync());
        var payload = Enumerable.Range(0, 200_000).Select(i => (byte)i).ToArray();
        await WriteStateAsync(null, payload);
        Assert.Equal(payload, Assert.Single(await ReadStateAsync()).Payload);
    }

    [Fact]
    public async Task Grain_state_clear_and_delete_follow_the_version()
    {
        await WriteStateAsync(null, [1]);
        // A clear with a version that is not the current one answers the version sent: a conflict.
        Assert.Equal([5], await StateCommandAsync("ClearStorageKey", 5));
        Assert.Equal([2], await StateCommandAsync("ClearStorageKey", 1));
        var (payload, version) = Assert.Single(await ReadStateAsync());
        Assert.Null(payload);
        Assert.Equal(2, version);

        Assert.Equal([1], await StateCommandAsync("DeleteStorageKey", 1));
        Assert.Equal([null], await StateCommandAsync("DeleteStorageKey", 2));
        Assert.Empty(await ReadStateAsync());
    }

    [Fact]
    public async Task Grain_states_of_different_state_names_or_extensions_are_kept_apart()
    {
        Assert.Equal([1], await WriteStateAsync(null, [1]));
        Assert.Equal([1], await WriteStateAsync(null, [2], typeString: "other"));
        Assert.Equal([1], await WriteStateAsync(null, [3], extension: "ext"));

        Assert.Equal(new byte[] { 1 }, Assert.Single(await ReadStateAsync()).Payload);
        Assert.Equal(new byte[] { 2 }, Assert.Single(await ReadStateAsync(typeString: "other")).Payload);
        Assert.Equal(new byte[] { 3 }, Assert.Single(await ReadStateAsync(extension: "ext")).Payload);
    }

    // ---- Membership ----

    [Fact]
    public async Task Membership_version_row_is_inserted_once()
    {
        Assert.Equal([true], await BooleanAsync("InsertMembershipVersionKey", c => AddParameter(c, "DeploymentId", Cluster)));
        Assert.Equal([false], await BooleanAsync("InsertMembershipVersionKey", c => AddParameter(c, "DeploymentId", Cluster)));

        var row = Assert.Single(await ReadMembershipAsync("MembershipReadAllKey"));
        Assert.Equal(0, row.Version);
        Assert.Null(row.Address);
    }

    [Fact]
    public async Task Membership_insert_needs_the_current_version_and_bumps_it_with_the_row()
    {
        await BooleanAsync("InsertMembershipVersionKey", c => AddParameter(c, "DeploymentId", Cluster));

        Assert.Equal([false], await InsertSiloAsync(port: 11111, version: 7));
        Assert.Equal([true], await InsertSiloAsync(port: 11111, version: 0));
        Assert.Equal([false], await InsertSiloAsync(port: 11111, version: 1));
        Assert.Equal([true], await InsertSiloAsync(port: 11112, version: 1));

        var rows = await ReadMembershipAsync("MembershipReadAllKey");
        Assert.Equal(2, rows.Count);
        Assert.All(rows, r => Assert.Equal(2, r.Version));
        var first = rows.Single(r => r.Port == 11111);
        Assert.Equal("127.0.0.1", first.Address);
        Assert.Equal(3, first.Status);
        Assert.Equal(30000, first.ProxyPort);
        Assert.Equal(T0, first.StartTime);
        Assert.Equal(DateTimeKind.Utc, first.StartTime!.Value.Kind);
    }

    [Fact]
    public async Task Membership_update_is_atomic_with_the_version_and_heartbeats_touch_only_the_row()
    {
        await BooleanAsync("InsertMembershipVersionKey", c => AddParameter(c, "DeploymentId", Cluster));
        await InsertSiloAsync(port: 11111, version: 0);

        Assert.Equal([false], await UpdateSiloAsync(11111, status: 6, suspect: "S127.0.0.1:11112:1,2026-03-02 10:00:00.000 GMT", version: 0));
        Assert.Equal([false], await UpdateSiloAsync(22222, status: 6, suspect: null, version: 1));
        Assert.Equal(1, Assert.Single(await ReadMembershipAsync("MembershipReadAllKey")).Version);
        Assert.Equal([true], await UpdateSiloAsync(11111, status: 6, suspect: "S127.0.0.1:11112:1,2026-03-02 10:00:00.000 GMT", version: 1));

        await RunAsync("UpdateIAmAlivetimeKey", c =>
        {
            AddSilo(c, 11111);
            AddParameter(c, "IAmAliveTime", T0.AddMinutes(5));
        }, _ => 0);

        var row = Assert.Single(await ReadMembershipAsync("MembershipReadRowKey", c => AddSilo(c, 11111)));
        Assert.Equal(2, row.Version);
        Assert.Equal(6, row.Status);
        Assert.Equal(T0.AddMinutes(5), row.IAmAliveTime);
        Assert.StartsWith("S127.0.0.1:11112:1,", row.SuspectTimes, StringComparison.Ordinal);

        // A silo without a row still gets the version row (left join).
        var absent = Assert.Single(await ReadMembershipAsync("MembershipReadRowKey", c => AddSilo(c, 33333)));
        Assert.Null(absent.Address);
        Assert.Equal(2, absent.Version);
    }

    [Fact]
    public async Task Gateways_are_the_active_silos_with_a_proxy_port_and_dead_silos_are_cleaned_up()
    {
        await BooleanAsync("InsertMembershipVersionKey", c => AddParameter(c, "DeploymentId", Cluster));
        await InsertSiloAsync(port: 11111, version: 0);
        await InsertSiloAsync(port: 11112, version: 1);
        await UpdateSiloAsync(11112, status: 6, suspect: null, version: 2);

        var gateways = await RunAsync("GatewaysQueryKey", c =>
        {
            AddParameter(c, "DeploymentId", Cluster);
            AddParameter(c, "Status", 3);
        }, r => (r.GetString(r.GetOrdinal("Address")), r.GetInt32(r.GetOrdinal("ProxyPort")), r.GetInt32(r.GetOrdinal("Generation"))));
        Assert.Equal([("127.0.0.1", 30000, 1)], gateways);

        await RunAsync("CleanupDefunctSiloEntriesKey", c =>
        {
            AddParameter(c, "DeploymentId", Cluster);
            AddParameter(c, "IAmAliveTime", T0.AddHours(1));
        }, _ => 0);

        Assert.Equal([11111], (await ReadMembershipAsync("MembershipReadAllKey")).Select(r => r.Port));

        await RunAsync("DeleteMembershipTableEntriesKey", c => AddParameter(c, "DeploymentId", Cluster), _ => 0);
        Assert.Empty(await ReadMembershipAsync("MembershipReadAllKey"));
    }

    [Fact]
    public async Task A_single_dead_silo_row_is_removed_only_while_unchanged()
    {
        await BooleanAsync("InsertMembershipVersionKey", c => AddParameter(c, "DeploymentId", Cluster));
        await InsertSiloAsync(port: 11112, version: 0);
        await UpdateSiloAsync(11112, status: 6, suspect: null, version: 1);

        void Cleanup(DbCommand c, DateTime alive)
        {
            AddSilo(c, 11112);
            AddParameter(c, "IAmAliveTime", alive);
            AddParameter(c, "StartTime", T0);
            AddParameter<string?>(c, "SuspectTimes", null);
        }

        await RunAsync("CleanupDefunctSiloEntryKey", c => Cleanup(c, T0.AddSeconds(1)), _ => 0);
        Assert.Single(await ReadMembershipAsync("MembershipReadAllKey"));
        await RunAsync("CleanupDefunctSiloEntryKey", c => Cleanup(c, T0), _ => 0);
        Assert.Null(Assert.Single(await ReadMembershipAsync("MembershipReadAllKey")).Address);
    }

    // ---- Reminders ----

    [Fact]
    public async Task Reminders_upsert_read_and_delete_by_version()
    {
        Assert.Equal([0], await UpsertReminderAsync("queue/example.net", "wake", hash: 100, TimeSpan.FromMinutes(1)));
        Assert.Equal([1], await UpsertReminderAsync("queue/example.net", "wake", hash: 100, TimeSpan.FromMinutes(2)));
        Assert.Equal([0], await UpsertReminderAsync("queue/example.net", "other", hash: 100, TimeSpan.FromDays(30)));
        Assert.Equal([0], await UpsertReminderAsync("queue/other.test", "wake", hash: -5, TimeSpan.FromMinutes(1)));

        var rows = await ReadRemindersAsync("ReadReminderRowsKey", c => AddParameter(c, "GrainId", "queue/example.net", DbType.AnsiString));
        Assert.Equal(["other", "wake"], rows.Select(r => r.Name).Order());
        var wake = rows.Single(r => r.Name == "wake");
        Assert.Equal((long)TimeSpan.FromMinutes(2).TotalMilliseconds, wake.Period);
        Assert.Equal(T0, wake.StartTime);
        Assert.Equal(1, wake.Version);
        Assert.Equal((long)TimeSpan.FromDays(30).TotalMilliseconds, rows.Single(r => r.Name == "other").Period);

        var one = await ReadRemindersAsync("ReadReminderRowKey", c =>
        {
            AddParameter(c, "GrainId", "queue/example.net", DbType.AnsiString);
            AddParameter(c, "ReminderName", "wake");
        });
        Assert.Equal("wake", Assert.Single(one).Name);

        Assert.Equal([false], await DeleteReminderAsync("queue/example.net", "wake", version: 0));
        Assert.Equal([true], await DeleteReminderAsync("queue/example.net", "wake", version: 1));
        Assert.Single(await ReadRemindersAsync("ReadReminderRowsKey", c => AddParameter(c, "GrainId", "queue/example.net", DbType.AnsiString)));
    }

    [Fact]
    public async Task Reminder_ranges_select_by_grain_hash_with_and_without_wrapping()
    {
        await UpsertReminderAsync("g/low", "r", hash: -1000, TimeSpan.FromMinutes(1));
        await UpsertReminderAsync("g/mid", "r", hash: 10, TimeSpan.FromMinutes(1));
        await UpsertReminderAsync("g/high", "r", hash: 1000, TimeSpan.FromMinutes(1));

        var inside = await ReadRemindersAsync("ReadRangeRows1Key", c => AddRange(c, 0, 1000));
        Assert.Equal(["g/high", "g/mid"], inside.Select(r => r.GrainId).Order());

        var wrapped = await ReadRemindersAsync("ReadRangeRows2Key", c => AddRange(c, 500, -500));
        Assert.Equal(["g/high", "g/low"], wrapped.Select(r => r.GrainId).Order());

        await RunAsync("DeleteReminderRowsKey", c => AddParameter(c, "ServiceId", ServiceId), _ => 0);
        Assert.Empty(await ReadRemindersAsync("ReadRangeRows1Key", c => AddRange(c, int.MinValue, int.MaxValue)));

        static void AddRange(DbCommand c, int begin, int end)
        {
            AddParameter(c, "BeginHash", begin);
            AddParameter(c, "EndHash", end);
        }
    }

    // ---- Helpers: Orleans' calls ----

    private Task<List<int?>> WriteStateAsync(int? version, byte[] payload, string typeString = "message", string? extension = null) =>
        RunAsync("WriteToStorageKey", c =>
        {
            AddGrain(c, typeString, extension);
            AddParameter(c, "GrainStateVersion", version);
            AddParameter(c, "PayloadBinary", payload);
        }, r => NullableInt(r, "NewGrainStateVersion"));

    private Task<List<int?>> StateCommandAsync(string key, int? version) =>
        RunAsync(key, c =>
        {
            AddGrain(c, "message", null);
            AddParameter(c, "GrainStateVersion", version);
        }, r => NullableInt(r, "NewGrainStateVersion"));

    private Task<List<(byte[]? Payload, int? Version)>> ReadStateAsync(string typeString = "message", string? extension = null) =>
        RunAsync("ReadFromStorageKey", c => AddGrain(c, typeString, extension), r =>
        {
            var ordinal = r.GetOrdinal("PayloadBinary");
            return (r.IsDBNull(ordinal) ? null : (byte[])r.GetValue(ordinal), NullableInt(r, "Version"));
        });

    private static void AddGrain(DbCommand c, string typeString, string? extension)
    {
        AddParameter(c, "GrainIdHash", 12345);
        AddParameter(c, "GrainIdN0", 0x0102030405060708L);
        AddParameter(c, "GrainIdN1", -42L);
        AddParameter(c, "GrainTypeHash", 777);
        AddParameter(c, "GrainTypeString", typeString);
        AddParameter(c, "GrainIdExtensionString", extension);
        AddParameter(c, "ServiceId", ServiceId);
    }

    private static void AddSilo(DbCommand c, int port)
    {
        AddParameter(c, "DeploymentId", Cluster);
        AddParameter(c, "Address", "127.0.0.1", DbType.AnsiString);
        AddParameter(c, "Port", port);
        AddParameter(c, "Generation", 1);
    }

    private Task<List<bool>> InsertSiloAsync(int port, int version) =>
        BooleanAsync("InsertMembershipKey", c =>
        {
            AddSilo(c, port);
            AddParameter(c, "SiloName", $"silo-{port}");
            AddParameter(c, "HostName", "host");
            AddParameter(c, "Status", 3);
            AddParameter(c, "ProxyPort", 30000);
            AddParameter(c, "StartTime", T0);
            AddParameter(c, "IAmAliveTime", T0);
            AddParameter(c, "Version", version);
        });

    private Task<List<bool>> UpdateSiloAsync(int port, int status, string? suspect, int version) =>
        BooleanAsync("UpdateMembershipKey", c =>
        {
            AddSilo(c, port);
            AddParameter(c, "Status", status);
            AddParameter(c, "SuspectTimes", suspect);
            AddParameter(c, "IAmAliveTime", T0);
            AddParameter(c, "Version", version);
        });

    private sealed record MembershipRow(string? Address, int? Port, int? Status, int? ProxyPort, string? SuspectTimes, DateTime? StartTime, DateTime? IAmAliveTime, int Version);

    private Task<List<MembershipRow>> ReadMembershipAsync(string key, Action<DbCommand>? parameters = null) =>
        RunAsync(key, c =>
        {
            if (parameters is null)
            {
                AddParameter(c, "DeploymentId", Cluster);
            }
            else
            {
                parameters(c);
            }
        }, r => new MembershipRow(
            Value<string>(r, "Address"), NullableInt(r, "Port"), NullableInt(r, "Status"), NullableInt(r, "ProxyPort"), Value<string>(r, "SuspectTimes"),
            r.IsDBNull(r.GetOrdinal("StartTime")) ? null : r.GetDateTime(r.GetOrdinal("StartTime")),
            r.IsDBNull(r.GetOrdinal("IAmAliveTime")) ? null : r.GetDateTime(r.GetOrdinal("IAmAliveTime")),
            Convert.ToInt32(r.GetValue(r.GetOrdinal("Version")), CultureInfo.InvariantCulture)));

    private Task<List<int>> UpsertReminderAsync(string grainId, string name, int hash, TimeSpan period) =>
        RunAsync("UpsertReminderRowKey", c =>
        {
            AddParameter(c, "ServiceId", ServiceId);
            AddParameter(c, "GrainId", grainId, DbType.AnsiString);
            AddParameter(c, "ReminderName", name);
            AddParameter(c, "StartTime", T0);
            // Orleans sends an int when the period fits, a long otherwise.
            if (period.TotalMilliseconds <= int.MaxValue)
            {
                AddParameter(c, "Period", (int)period.TotalMilliseconds);
            }
            else
            {
                AddParameter(c, "Period", (long)period.TotalMilliseconds);
            }

            AddParameter(c, "GrainHash", hash);
        }, r => Convert.ToInt32(r.GetValue(r.GetOrdinal("Version")), CultureInfo.InvariantCulture));

    private sealed record ReminderRow(string GrainId, string Name, DateTime StartTime, long Period, int Version);

    private Task<List<ReminderRow>> ReadRemindersAsync(string key, Action<DbCommand> parameters) =>
        RunAsync(key, c =>
        {
            AddParameter(c, "ServiceId", ServiceId);
            parameters(c);
        }, r => new ReminderRow(
            r.GetString(r.GetOrdinal("GrainId")), r.GetString(r.GetOrdinal("ReminderName")), r.GetDateTime(r.GetOrdinal("StartTime")),
            r.GetInt64(r.GetOrdinal("Period")), Convert.ToInt32(r.GetValue(r.GetOrdinal("Version")), CultureInfo.InvariantCulture)));

    private Task<List<bool>> DeleteReminderAsync(string grainId, string name, int version) =>
        BooleanAsync("DeleteReminderRowKey", c =>
        {
            AddParameter(c, "ServiceId", ServiceId);
            AddParameter(c, "GrainId", grainId, DbType.AnsiString);
            AddParameter(c, "ReminderName", name);
            AddParameter(c, "Version", version);
        });

    /// <summary>Orleans' GetSingleBooleanValue: one column, Convert.ToBoolean.</summary>
    private Task<List<bool>> BooleanAsync(string key, Action<DbCommand> parameters) =>
        RunAsync(key, parameters, r =>
        {
            Assert.Equal(1, r.FieldCount);
            return Convert.ToBoolean(r.GetValue(0), CultureInfo.InvariantCulture);
        });

    /// <summary>Reads the query text by key and runs it as Orleans' RelationalStorage does.</summary>
    private async Task<List<T>> RunAsync<T>(string queryKey, Action<DbCommand> parameters, Func<DbDataReader, T> selector, bool raw = false)
    {
        var queryText = queryKey;
        if (!raw)
        {
            await using var lookup = _store.OpenIndependentConnection();
            await using var command = new NpgsqlCommand("SELECT QueryText FROM OrleansQuery WHERE QueryKey = @key", lookup);
            command.Parameters.AddWithValue("key", queryKey);
            queryText = (string)(await command.ExecuteScalarAsync())!;
        }

        await using var connection = new NpgsqlConnection(_store.ConnectionString);
        await connection.OpenAsync();
        await using var run = connection.CreateCommand();
        run.CommandText = queryText;
        parameters(run);
        var results = new List<T>();
        await using var reader = await run.ExecuteReaderAsync(CommandBehavior.Default);
        do
        {
            while (await reader.ReadAsync())
            {
                results.Add(selector(reader));
            }
        }
        while (await reader.NextResultAsync());

        return results;
    }

    /// <summary>Orleans' DbExtensions.AddParameter: no name prefix, DbType from the CLR type unless given, null as DBNull.</summary>
    private static void AddParameter<T>(DbCommand command, string name, T value, DbType? dbType = null)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = (object?)value ?? DBNull.Value;
        parameter.DbType = dbType ?? DbTypes[typeof(T)];
        parameter.Direction = ParameterDirection.Input;
        command.Parameters.Add(parameter);
    }

    private static readonly Dictionary<Type, DbType> DbTypes = new()
    {
        [typeof(int)] = DbType.Int32,
        [typeof(int?)] = DbType.Int32,
        [typeof(long)] = DbType.Int64,
        [typeof(string)] = DbType.String,
        [typeof(byte[])] = DbType.Binary,
        [typeof(DateTime)] = DbType.DateTime,
    };

    private static int? NullableInt(DbDataReader record, string field)
    {
        var value = record.GetValue(record.GetOrdinal(field));
        return value == DBNull.Value ? null : Convert.ToInt32(value, CultureInfo.InvariantCulture);
    }

    private static T? Value<T>(DbDataReader record, string field)
        where T : class
    {
        var value = record.GetValue(record.GetOrdinal(field));
        return value == DBNull.Value ? null : (T)value;
    }
}
