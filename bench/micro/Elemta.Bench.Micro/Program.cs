using BenchmarkDotNet.Running;

// `dotnet run -c Release -- --filter '*'` runs everything; `--list flat` shows the benchmarks; see bench/micro/README.md.
BenchmarkSwitcher.FromAssembly(typeof(Elemta.Bench.Micro.SampleMessages).Assembly).Run(args);
