using System.Collections.Concurrent;

namespace Elemta.Plugins.Tests;

/// <summary>
/// A plugins folder in a temporary directory, filled with copies of the plugin builds this project's build made
/// (bin/.../plugin-builds/&lt;project&gt;, as 'dotnet build -o' leaves them), and the sink the scripted plugin records into.
/// </summary>
internal sealed class PluginFolder : IDisposable
{
    public PluginFolder()
    {
        Path = Directory.CreateTempSubdirectory("elemta-plugins-").FullName;
        SinkKey = "TestPlugin.Sink:" + Guid.NewGuid().ToString("N");
        AppContext.SetData(SinkKey, Events);
    }

    public string Path { get; }

    /// <summary>The AppContext key of <see cref="Events"/>, given to plugins as their <c>Sink</c> setting.</summary>
    public string SinkKey { get; }

    /// <summary>Every hook call of the scripted plugins, as "name:hook:data".</summary>
    public ConcurrentQueue<string> Events { get; } = new();

    /// <summary>A plugin name unique to the test (the scripted plugin is named after its folder).</summary>
    public static string NewName(string prefix) => $"{prefix}{Guid.NewGuid().ToString("N")[..6]}";

    /// <summary>Copies a plugin build into a subfolder <paramref name="name"/>; replaces the files when it exists.</summary>
    public string Add(string name, string build = "TestPlugin.Scripted", string? dependencies = null)
    {
        if (dependencies is not null)
        {
            AppContext.SetData("TestPlugin.Dependencies:" + name, dependencies);
        }

        var source = System.IO.Path.Combine(AppContext.BaseDirectory, "plugin-builds", build);
        Assert.True(Directory.Exists(source), $"The build of {build} is missing at {source}");
        var target = System.IO.Path.Combine(Path, name);
        Directory.CreateDirectory(target);
        foreach (var file in Directory.GetFiles(source, "*", SearchOption.AllDirectories))
        {
            var destination = System.IO.Path.Combine(target, System.IO.Path.GetRelativePath(source, file));
            Directory.CreateDirectory(System.IO.Path.GetDirectoryName(destination)!);
            File.Copy(file, destination, overwrite: true);
            // A copy keeps the source's time on some file systems; a replacement must look new.
            File.SetLastWriteTimeUtc(destination, DateTime.UtcNow);
        }

        return target;
    }

    /// <summary>Settings for a server with this folder, and per plugin its sink and <paramref name="items"/> (relative to Elemta:Plugins:Items:&lt;name&gt;).</summary>
    public Dictionary<string, string?> Settings(IEnumerable<string> plugins, IReadOnlyDictionary<string, string?>? items = null, bool watch = false)
    {
        var settings = new Dictionary<string, string?>
        {
            ["Elemta:Plugins:Directory"] = Path,
            ["Elemta:Plugins:Watch"] = watch ? "true" : "false",
            ["Elemta:Plugins:ReloadDelay"] = "00:00:00.2",
        };
        foreach (var plugin in plugins)
        {
            settings[$"Elemta:Plugins:Items:{plugin}:Settings:Sink"] = SinkKey;
        }

        foreach (var (key, value) in items ?? new Dictionary<string, string?>())
        {
            settings["Elemta:Plugins:Items:" + key] = value;
        }

        return settings;
    }

    /// <summary>Waits until <paramref name="condition"/> holds, polling, for at most 30 s.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, $"Timed out waiting for {what}");
            await Task.Delay(25);
        }
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
