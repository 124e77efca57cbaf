using System.Reflection;
using System.Runtime.Loader;

namespace Elemta.Plugins;

/// <summary>
/// A collectible load context for one plugin folder. The plugin's own assemblies and its private dependencies load
/// here, resolved by its <c>.deps.json</c>; the plugin API (<c>Elemta.Plugins.Abstractions</c>) and everything the
/// host already has (the shared framework, Microsoft.Extensions abstractions) come from the host's context, so the
/// plugin's <see cref="IElemtaPlugin"/> is the host's type.
/// </summary>
/// <remarks>
/// Assemblies are read into memory (<see cref="AssemblyLoadContext.LoadFromStream(Stream)"/>), not mapped from their
/// files: a plugin replaced on disk by copying over its files must not change the code of the version still running.
/// </remarks>
internal sealed class PluginLoadContext(string mainAssemblyPath) : AssemblyLoadContext($"plugin:{Path.GetFileName(Path.GetDirectoryName(mainAssemblyPath))}", isCollectible: true)
{
    private readonly AssemblyDependencyResolver _resolver = new(mainAssemblyPath);

    /// <summary>Loads the plugin's main assembly.</summary>
    public Assembly LoadMain() => LoadFile(mainAssemblyPath);

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        // Shared with the host: the API's types must be the host's own, or no plugin would be an IElemtaPlugin.
        if (IsShared(assemblyName))
        {
            return null;
        }

        return _resolver.ResolveAssemblyToPath(assemblyName) is { } path ? LoadFile(path) : null;
    }

    protected override IntPtr LoadUnmanagedDll(string unmanagedDllName) =>
        _resolver.ResolveUnmanagedDllToPath(unmanagedDllName) is { } path ? LoadUnmanagedDllFromPath(path) : IntPtr.Zero;

    /// <summary>Whether the host's copy of an assembly is used: the API, and any assembly the host has loaded already.</summary>
    private static bool IsShared(AssemblyName name) =>
        string.Equals(name.Name, typeof(IElemtaPlugin).Assembly.GetName().Name, StringComparison.Ordinal)
        || Default.Assemblies.Any(a => string.Equals(a.GetName().Name, name.Name, StringComparison.Ordinal));

    private Assembly LoadFile(string path)
    {
        using var assembly = new MemoryStream(File.ReadAllBytes(path));
        var pdbPath = Path.ChangeExtension(path, ".pdb");
        if (!File.Exists(pdbPath))
        {
            return LoadFromStream(assembly);
        }

        using var symbols = new MemoryStream(File.ReadAllBytes(pdbPath));
        return LoadFromStream(assembly, symbols);
    }
}
