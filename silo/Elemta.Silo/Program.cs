using Elemta.Silo;

if (Management.Handles(args))
{
    return await Management.RunAsync(args, Console.In, Console.Out, Console.Error);
}

CommandLine commandLine;
try
{
    commandLine = CommandLine.Parse(args);
}
catch (FormatException ex)
{
    await Console.Error.WriteLineAsync($"elemta: {ex.Message}");
    return 2;
}

if (commandLine.Help)
{
    Console.WriteLine(CommandLine.Usage);
    Console.WriteLine();
    Console.WriteLine(Management.Usage);
    return 0;
}

if (commandLine.Version)
{
    Console.WriteLine($"Elemta {typeof(SiloHost).Assembly.GetName().Version}");
    return 0;
}

return await SiloHost.RunAsync(commandLine);
