using BenchmarkDotNet.Running;

// `dotnet run -c Release -- --filter '*'` runs everything; see bench/micro/README.md.
BenchmarkSwitcher.FromAssembly(typeof(Elemta.Bench.MailAuth.MailAuthBenchmarks).Assembly).Run(args);
