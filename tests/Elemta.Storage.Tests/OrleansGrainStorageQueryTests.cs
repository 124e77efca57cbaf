using System.Data;
using System.Data.Common;
using Microsoft.Data.Sqlite;

namespace Elemta.Storage.Tests;

/// <summary>
/// The SQL that Orleans' AdoNetGrainStorage reads from <c>OrleansQuery</c>, run the way that provider runs it:
/// a fresh connection per call, parameters named without prefix and typed by its CLR→DbType map, a null
/// value as <see cref="DBNull"/>, and every row of every result set collected. Orleans then takes
/// <c>SingleOrDefault()</c> and treats "no row" or "the version it sent" as a concurrency conflict.
/// </summary>
public sealed class OrleansGrainStorageQueryTests : IAsyncLifetime
{
    private const string ServiceId = "elemta-test";
    private TempDatabase _temp = null!;

    public async Task InitializeAsync() => _temp = await TempDatabase.CreateAsync();

    public async Task DisposeAsync() => await _temp.DisposeAsync();

    private static GrainKey Grain(string? extension = null) => new(
        IdHash: 12345, N0: 0x0102030405060708, N1: -42, TypeHash: 777, TypeString: "MessageState", Extension: extension, ServiceId: ServiceId);

    [Fact]
    public async Task First_write_returns_version_1()
    {
        var versions = await WriteAsync(Grain(), version: null, [1, 2, 3]);

        Assert.Equal([1], versions);
        var row = Assert.Single(await ReadAsync(Grain()));
        Assert.Equal(new byte[] { 1, 2, 3 }, row.Payload);
        Assert.Equal(1, row.Version);
    }

    [Fact]
    public async Task Write_with_the_current_version_returns_the_next_one()
    {
        await WriteAsync(Grain(), null, [1]);

        Assert.Equal([2], await WriteAsync(Grain(), 1, [2]));
        Assert.Equal([3], await WriteAsync(Grain(), 2, [3]));
        var row = Assert.Single(await ReadAsync(Grain()));
        Assert.Equal(new byte[] { 3 }, row.Payload);
        Assert.Equal(3, row.Version);
    }

    [Fact]
    public async Task Write_with_a_stale_version_returns_that_version_and_changes_nothing()
    {
        await WriteAsync(Grain(), null, [1]);
        await WriteAsync(Grain(), 1, [2]);

        var versions = await WriteAsync(Grain(), 1, [99]);

        // Orleans: the returned version equals the ETag it sent → InconsistentStateException.
        Assert.Equal([1], versions);
        var row = Assert.Single(await ReadAsync(Grain()));
        Assert.Equal(new byte[] { 2 }, row.Payload);
        Assert.Equal(2, row.Version);
    }

    [Fact]
    public async Task Write_with_a_version_for_a_grain_never_written_is_a_conflict()
    {
        var versions = await WriteAsync(Grain(), 5, [1]);

        Assert.Equal([5], versions);
        Assert.Empty(await ReadAsync(Grain()));
    }

    [Fact]
    public async Task First_write_when_a_row_exists_returns_no_row_and_changes_nothing()
    {
        await WriteAsync(Grain(), null, [1]);

        var versions = await WriteAsync(Grain(), null, [99]);

        // Orleans: no row and no ETag sent → null == null → InconsistentStateException.
        Assert.Empty(versions);
        var row = Assert.Single(await ReadAsync(Grain()));
        Assert.Equal(new byte[] { 1 }, row.Payload);
        Assert.Equal(1, row.Version);
    }

    [Fact]
    public async Task Read_of_a_grain_never_written_returns_no_row()
    {
        Assert.Empty(await ReadAsync(Grain()));
    }

    [Fact]
    public async Task Read_returns_payload_and_version()
    {
        var payload = Enumerable.Range(0, 70_000).Select(i => (byte)i).ToArray();
        await WriteAsync(Grain(), null, payload);

        var row = Assert.Single(await ReadAsync(Grain()));

        Assert.Equal(payload, row.Payload);
        Assert.Equal(1, row.Version);
    }

    [Fact]
    public async Task Clear_with_the_current_version_returns_the_next_one_and_nulls_the_payload()
    {
        await WriteAsync(Grain(), null, [1]);
        await WriteAsync(Grain(), 1, [2]);

        var versions = await ClearAsync(Grain(), 2);

        Assert.Equal([3], versions);
        var row = Assert.Single(await ReadAsync(Grain()));
        Assert.Null(row.Payload);
        Assert.Equal(3, row.Version);

        // The grain keeps its row and writes on from the cleared version.
        Assert.Equal([4], await WriteAsync(Grain(), 3, [4]));
    }

    [Fact]
    public async Task Clear_with_a_stale_version_returns_that_version_and_changes_nothing()
    {
        await WriteAsync(Grain(), null, [1]);
        await WriteAsync(Grain(), 1, [2]);

        var versions = await ClearAsync(Grain(), 1);

        Assert.Equal([1], versions);
        var row = Assert.Single(await ReadAsync(Grain()));
        Assert.Equal(new byte[] { 2 }, row.Payload);
        Assert.Equal(2, row.Version);
    }

    [Fact]
    public async Task Null_extension_strings_match_each_other()
    {
        Assert.Equal([1], await WriteAsync(Grain(extension: null), null, [1]));

        Assert.Equal([2], await WriteAsync(Grain(extension: null), 1, [2]));
        Assert.Empty(await WriteAsync(Grain(extension: null), null, [3]));
        Assert.Equal(2, Assert.Single(await ReadAsync(Grain(extension: null))).Version);
        Assert.Equal([3], await ClearAsync(Grain(extension: null), 2));
    }

    [Fact]
    public async Task Grains_that_differ_only_in_clear_text_columns_are_kept_apart()
    {
        // Same hashes (a collision) but different extension, type name, id or service: separate rows.
        var original = Grain(extension: null);
        var others = new[]
        {
            original with { Extension = "ext" },
            original with { TypeString = "DomainQueueState" },
            original with { N1 = 43 },
            original with { ServiceId = "other-service" },
        };

        Assert.Equal([1], await WriteAsync(original, null, [0]));
        for (var i = 0; i < others.Length; i++)
        {
            Assert.Equal([1], await WriteAsync(others[i], null, [(byte)(i + 1)]));
        }

        Assert.Equal(new byte[] { 0 }, Assert.Single(await ReadAsync(original)).Payload);
        for (var i = 0; i < others.Length; i++)
        {
            Assert.Equal(new byte[] { (byte)(i + 1) }, Assert.Single(await ReadAsync(others[i])).Payload);
        }
    }

    [Fact]
    public async Task Grain_with_extension_string_round_trips()
    {
        Assert.Equal([1], await WriteAsync(Grain("example.net"), null, [7]));
        Assert.Equal([2], await WriteAsync(Grain("example.net"), 1, [8]));
        Assert.Empty(await ReadAsync(Grain(null)));
        Assert.Equal(new byte[] { 8 }, Assert.Single(await ReadAsync(Grain("example.net"))).Payload);
    }

    private sealed record GrainKey(int IdHash, long N0, long N1, int TypeHash, string TypeString, string? Extension, string ServiceId);

    private sealed record ReadRow(byte[]? Payload, int? Version);

    private async Task<List<int?>> WriteAsync(GrainKey grain, int? version, byte[] payload)
    {
        var rows = await RunAsync("WriteToStorageKey", command =>
        {
            AddKey(command, grain);
            AddParameter(command, "GrainStateVersion", version);
            AddParameter(command, "PayloadBinary", payload);
        }, record => GetNullableInt32(record, "NewGrainStateVersion"));
        return rows;
    }

    private async Task<List<int?>> ClearAsync(GrainKey grain, int? version) =>
        await RunAsync("ClearStorageKey", command =>
        {
            AddKey(command, grain);
            AddParameter(command, "GrainStateVersion", version);
        }, record => record.GetValue(0).ToString() is { Length: > 0 } text ? int.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : (int?)null);

    private async Task<List<ReadRow>> ReadAsync(GrainKey grain) =>
        await RunAsync("ReadFromStorageKey", command => AddKey(command, grain), record =>
        {
            var ordinal = record.GetOrdinal("PayloadBinary");
            var payload = record.IsDBNull(ordinal) ? null : (byte[])record.GetValue(ordinal);
            return new ReadRow(payload, GetNullableInt32(record, "Version"));
        });

    /// <summary>Reads the query text by key and runs it as RelationalStorage.ReadAsync does.</summary>
    private async Task<List<T>> RunAsync<T>(string queryKey, Action<DbCommand> parameters, Func<DbDataReader, T> selector)
    {
        string queryText;
        await using (var connection = new SqliteConnection(_temp.ConnectionString))
        {
            await connection.OpenAsync();
            await using var lookup = connection.CreateCommand();
            lookup.CommandText = "SELECT QueryText FROM OrleansQuery WHERE QueryKey = @key";
            lookup.Parameters.AddWithValue("@key", queryKey);
            queryText = (string)(await lookup.ExecuteScalarAsync())!;
        }

        await using (var connection = new SqliteConnection(_temp.ConnectionString))
        {
            await connection.OpenAsync();
            await using var command = connection.CreateCommand();
            command.CommandText = queryText;
            parameters(command);
            var results = new List<T>();
            await using var reader = await command.ExecuteReaderAsync(CommandBehavior.Default);
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
    }

    private static void AddKey(DbCommand command, GrainKey grain)
    {
        AddParameter(command, "GrainIdHash", grain.IdHash);
        AddParameter(command, "GrainIdN0", grain.N0);
        AddParameter(command, "GrainIdN1", grain.N1);
        AddParameter(command, "GrainTypeHash", grain.TypeHash);
        AddParameter(command, "GrainTypeString", grain.TypeString);
        AddParameter(command, "GrainIdExtensionString", grain.Extension);
        AddParameter(command, "ServiceId", grain.ServiceId);
    }

    /// <summary>Orleans' DbExtensions.AddParameter: no name prefix, DbType from the CLR type, null as DBNull.</summary>
    private static void AddParameter<T>(DbCommand command, string name, T value)
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = (object?)value ?? DBNull.Value;
        parameter.DbType = DbTypes[typeof(T)];
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
    };

    /// <summary>Orleans' GetNullableInt32.</summary>
    private static int? GetNullableInt32(DbDataReader record, string field)
    {
        var value = record.GetValue(record.GetOrdinal(field));
        return value == DBNull.Value ? null : Convert.ToInt32(value, System.Globalization.CultureInfo.InvariantCulture);
    }
}
