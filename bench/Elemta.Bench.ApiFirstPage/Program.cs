using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Elemta.Storage.Sqlite;
using Microsoft.Data.Sqlite;

// Usage: dotnet run -c Release --project bench/Elemta.Bench.ApiFirstPage -- <silo-dll> [messages] [requests]
// Fills a fresh SQLite store with `messages` queued (Active) messages straight through the database — content with its
// envelope, listing row, queue entry, counters kept by the production triggers — then starts a real silo on it and
// times `requests` sequential calls of each listing's first page over loopback HTTP with an API key (p50, p99, max).
// The messages are due in a day, so the silo leaves them alone while it is measured.
if (args.Length < 1)
{
    Console.Error.WriteLine("usage: Elemta.Bench.ApiFirstPage <path/to/elemta.dll> [messages=1000000] [requests=50]");
    return 2;
}

var siloDll = Path.GetFullPath(args[0]);
var count = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 1_000_000;
var requests = args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 50;
var folder = Path.Combine(Path.GetTempPath(), "elemta-bench-api-" + Guid.NewGuid().ToString("N"));
Directory.CreateDirectory(folder);
Process? silo = null;
try
{
    await FillAsync(Path.Combine(folder, "elemta.db"), count);

    var httpPort = FreePort();
    var output = new StringBuilder();
    var listening = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    var info = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
    foreach (var arg in new[]
    {
        siloDll, "--port", FreePort().ToString(CultureInfo.InvariantCulture), "--data", folder,
        "--Elemta:Smtp:ListenAddresses:0=127.0.0.1",
        $"--Elemta:Cluster:SiloPort={FreePort()}", $"--Elemta:Cluster:GatewayPort={FreePort()}",
        $"--Elemta:Http:Urls=http://127.0.0.1:{httpPort}",
        "--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:Elemta.Http=Information",
    })
    {
        info.ArgumentList.Add(arg);
    }

    info.Environment["DOTNET_gcServer"] = "0";
    silo = new Process { StartInfo = info };
    void OnLine(string? line)
    {
        if (line is null)
        {
            return;
        }

        lock (output)
        {
            output.AppendLine(line);
        }

        if (line.Contains("HTTP listening on", StringComparison.Ordinal))
        {
            listening.TrySetResult();
        }
    }

    silo.OutputDataReceived += (_, e) => OnLine(e.Data);
    silo.ErrorDataReceived += (_, e) => OnLine(e.Data);
    var started = Stopwatch.StartNew();
    silo.Start();
    silo.BeginOutputReadLine();
    silo.BeginErrorReadLine();
    if (await Task.WhenAny(listening.Task, silo.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(5))) != listening.Task)
    {
        Console.Error.WriteLine($"the silo did not start:\n{output}");
        return 1;
    }

    Console.WriteLine($"silo started on {count:N0} queued messages in {started.Elapsed.TotalSeconds:F1} s");

    using var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{httpPort}"), Timeout = TimeSpan.FromMinutes(2) };
    var passwordFile = Path.Combine(folder, "initial-admin-password");
    while (!File.Exists(passwordFile) || (await File.ReadAllTextAsync(passwordFile)).Trim().Length == 0)
    {
        await Task.Delay(100);
    }

    // One Basic sign-in (a slow password hash by design) to create an API key; the measured calls use the key.
    using (var create = new HttpRequestMessage(HttpMethod.Post, "/api/apikeys") { Content = JsonContent.Create(new { role = "viewer", name = "bench" }) })
    {
        create.Headers.Authorization = new AuthenticationHeaderValue("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"admin:{(await File.ReadAllTextAsync(passwordFile)).Trim()}")));
        using var created = await http.SendAsync(create);
        created.EnsureSuccessStatusCode();
        var key = (await created.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("key").GetString();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", key);
    }

    var stats = await http.GetFromJsonAsync<JsonElement>("/api/queue/stats");
    Console.WriteLine($"GET /api/queue/stats: active {stats.GetProperty("messages").GetProperty("active").GetInt64():N0}");
    Console.WriteLine($"{requests} sequential requests each after 5 warm-up ones, limit=50, times in ms:");
    Console.WriteLine($"{"listing",-62} {"p50",7} {"p99",7} {"max",7} {"items",6}");
    foreach (var (label, path) in new[]
    {
        ("first page, oldest first (the default)", "/api/queue/active?limit=50"),
        ("first page, newest first", "/api/queue/active?limit=50&sort=newest"),
        ("first page, by priority", "/api/queue/active?limit=50&sort=priority"),
        ("sender filter (1 % of messages)", "/api/queue/active?limit=50&sender=sender7%40origin.example"),
        ("domain filter (2 %)", "/api/queue/active?limit=50&domain=d7.example"),
        ("recipient filter (1 %)", "/api/queue/active?limit=50&recipient=user7%40d7.example"),
        ("recipient filter (1 %), by priority", "/api/queue/active?limit=50&sort=priority&recipient=user7%40d7.example"),
        ("second page, by priority", null!),
        ("GET /api/queue/stats", "/api/queue/stats"),
    })
    {
        var target = path ?? await SecondPageAsync(http, "/api/queue/active?limit=50&sort=priority");
        var (p50, p99, max, items) = await TimeAsync(http, target, requests);
        Console.WriteLine($"{label,-62} {p50,7:F1} {p99,7:F1} {max,7:F1} {items,6}");
    }

    return 0;
}
finally
{
    if (silo is not null)
    {
        if (!silo.HasExited)
        {
            silo.Kill(entireProcessTree: true);
        }

        await silo.WaitForExitAsync();
        silo.Dispose();
    }

    Directory.Delete(folder, recursive: true);
}

static async Task<string> SecondPageAsync(HttpClient http, string first)
{
    var page = await http.GetFromJsonAsync<JsonElement>(first);
    return $"{first}&cursor={page.GetProperty("nextCursor").GetString()}";
}

static async Task<(double P50, double P99, double Max, int Items)> TimeAsync(HttpClient http, string path, int requests)
{
    var times = new double[requests];
    var items = 0;
    for (var i = -5; i < requests; i++)
    {
        var started = Stopwatch.GetTimestamp();
        using var response = await http.GetAsync(path);
        var body = await response.Content.ReadAsByteArrayAsync();
        var elapsed = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
        if (!response.IsSuccessStatusCode)
        {
            throw new InvalidOperationException($"{path}: {(int)response.StatusCode} {Encoding.UTF8.GetString(body)}");
        }

        if (i >= 0)
        {
            times[i] = elapsed;
        }
        else if (JsonDocument.Parse(body).RootElement.TryGetProperty("items", out var list))
        {
            items = list.GetArrayLength();
        }
    }

    Array.Sort(times);
    return (times[requests / 2], times[Math.Min(requests - 1, (int)Math.Ceiling(requests * 0.99) - 1)], times[^1], items);
}

// Active messages due in a day, received one millisecond apart up to now: content (1 KiB) with its envelope, listing
// row and queue entry, in one transaction with prepared statements. Priorities 5 % critical, 10 % high, 70 % normal,
// 10 % low, 5 % bulk; 100 senders, 50 domains, 100 recipients, so each filter matches 1-2 % of the queue.
static async Task FillAsync(string path, int count)
{
    var fill = Stopwatch.StartNew();
    await using (var database = new SqliteDatabase(SqliteDatabase.ConnectionStringFor(path)))
    {
        await database.MigrateAsync(CancellationToken.None);
    }

    var content = new byte[1024];
    Array.Fill(content, (byte)'x');
    await using var connection = new SqliteConnection(SqliteDatabase.ConnectionStringFor(path));
    await connection.OpenAsync();
    await using var transaction = (SqliteTransaction)await connection.BeginTransactionAsync();
    await using var command = connection.CreateCommand();
    command.Transaction = transaction;
    command.CommandText = """
        INSERT INTO elemta_message_body (message_id, created_at, size, content, envelope) VALUES (@id, @received, 1024, @content, @envelope);
        INSERT INTO elemta_message (message_id, state, priority, sender, recipients, size, received_at, updated_at)
            VALUES (@id, 0, @priority, @sender, 1, 1024, @received, @received);
        INSERT INTO elemta_queue (domain, message_id, priority, due_at) VALUES (@domain, @id, @priority, @due);
        """;
    var id = command.Parameters.Add("@id", SqliteType.Text);
    var received = command.Parameters.Add("@received", SqliteType.Integer);
    var priority = command.Parameters.Add("@priority", SqliteType.Integer);
    var sender = command.Parameters.Add("@sender", SqliteType.Text);
    var domain = command.Parameters.Add("@domain", SqliteType.Text);
    var envelope = command.Parameters.Add("@envelope", SqliteType.Text);
    command.Parameters.AddWithValue("@content", content);
    var now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
    command.Parameters.AddWithValue("@due", now + 86_400_000);
    int[] priorities = [0, 100, 100, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 200, 300, 300, 400, 200];
    string[] names = ["critical", "high", "normal", "low", "bulk"];
    for (var i = 0; i < count; i++)
    {
        var messageId = i.ToString("x32", CultureInfo.InvariantCulture);
        var at = now - count + i;
        var from = $"sender{i % 100}@origin.example";
        var to = $"user{i % 100}@d{i % 50}.example";
        var p = i == 0 ? 200 : priorities[i % priorities.Length];
        id.Value = messageId;
        received.Value = at;
        priority.Value = p;
        sender.Value = from;
        domain.Value = $"d{i % 50}.example";
        envelope.Value = $$"""{"messageId":"{{messageId}}","sender":"{{from}}","recipients":["{{to}}"],"receivedAt":"{{DateTimeOffset.FromUnixTimeMilliseconds(at):O}}","clientAddress":"127.0.0.1","heloName":"bench","size":1024,"priority":"{{names[p / 100]}}","requireTls":false}""";
        await command.ExecuteNonQueryAsync();
        if ((i + 1) % 100_000 == 0)
        {
            Console.WriteLine($"  {i + 1:N0} messages in {fill.Elapsed.TotalSeconds:F0} s");
        }
    }

    await transaction.CommitAsync();
    Console.WriteLine($"filled {count:N0} queued messages in {fill.Elapsed.TotalSeconds:F1} s ({new FileInfo(path).Length / 1048576.0:F0} MiB)");
}

// A free loopback port below the kernel's ephemeral range, so an outgoing connection cannot take it meanwhile.
static int FreePort()
{
    for (var attempt = 0; attempt < 1000; attempt++)
    {
        var port = Random.Shared.Next(20_000, 30_000);
        try
        {
            using var listener = new TcpListener(IPAddress.Loopback, port);
            listener.Start();
            return port;
        }
        catch (SocketException)
        {
            // Taken: try another.
        }
    }

    throw new InvalidOperationException("no free port in 20000-29999");
}
