using Elemta.Bench.Load;

// Ctrl+C stops the sessions; what was measured so far is still reported.
using var stop = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    e.Cancel = true;
    stop.Cancel();
};

return await LoadProgram.RunAsync(args, Console.Out, Console.Error, stop.Token);
