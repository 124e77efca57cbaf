using Elemta.Fuzz;
using SharpFuzz;

// elemta-fuzz <target>               AFL++ mode (run under afl-fuzz by tests/fuzz/run.sh, with Elemta.Smtp instrumented)
// elemta-fuzz <target> --replay <dir>  runs every file of <dir> through the target once, in process (the regression run)
// elemta-fuzz session --show <file>    prints the server's replies to one session input (reading a transcript)
if (args.Length == 0 || !FuzzTargets.All.TryGetValue(args[0], out var target))
{
    await Console.Error.WriteLineAsync($"usage: Elemta.Fuzz <{string.Join('|', FuzzTargets.All.Keys)}> [--replay <dir>]");
    return 2;
}

if (args.Length == 3 && args[1] == "--show")
{
    Console.Write(FuzzTargets.Replies(await File.ReadAllBytesAsync(args[2])));
    return 0;
}

if (args.Length == 3 && args[1] == "--replay")
{
    var files = Directory.GetFiles(args[2]);
    foreach (var file in files)
    {
        target(await File.ReadAllBytesAsync(file));
    }

    Console.WriteLine($"{args[0]}: {files.Length} inputs replayed");
    return 0;
}

Fuzzer.OutOfProcess.Run(stream =>
{
    using var buffer = new MemoryStream();
    stream.CopyTo(buffer);
    target(buffer.ToArray());
});
return 0;
