namespace Elemta.Silo;

/// <summary>
/// What the silo was asked to do on its command line (parsed by <see cref="Cli.ElemtaCli"/>): a few flags of its own,
/// and the <c>--Elemta:Section:Key=value</c> arguments handed to configuration.
/// </summary>
internal sealed record CommandLine(bool Dev, int? Port, string? DataDirectory, IReadOnlyList<string> ConfigurationArgs, bool NoAuthRequired = false, bool MigrateOnly = false);
