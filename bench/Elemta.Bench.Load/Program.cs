using Elemta.Bench.Load;

// Socket completions run on the event thread instead of hopping to the thread pool: the sessions never block, and
// this roughly halves the generator's system CPU (measured against smtp-sink). The runtime reads the variable when the
// first socket is used, so setting it here still works; set it to 0 beforehand to keep the thread-pool hop.
if (Environment.GetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS") is null)
{
    Environment.SetEnvironmentVariable("DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS", "1");
}

// Ctrl+C stops the sessions; what was measured so far is still reported.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

return await LoadProgram.RunAsync(args, Console.Out, Console.Error, stop.Token);
