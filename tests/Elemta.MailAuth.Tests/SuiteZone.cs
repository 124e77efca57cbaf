using System.Net;
using Elemta.MailAuth.Spf;
using YamlDotNet.RepresentationModel;

namespace Elemta.MailAuth.Tests;

/// <summary>
/// An in-process DNS built from one scenario's <c>zonedata</c>, answering as the suite's own driver (pyspf's
/// testspf.py) does, so the cases mean what their authors meant:
/// <list type="bullet">
/// <item>an <c>SPF</c> record is also served as TXT unless the name has TXT records of its own (<c>TXT: NONE</c> counts as
/// having them but serves nothing);</item>
/// <item><c>TIMEOUT</c> in a name's list makes a query time out unless a record of the asked type came before it;</item>
/// <item>a CNAME is followed one level; a name not in the zone is NXDOMAIN (a void answer), except names under
/// <c>error.</c>, which time out;</item>
/// <item>empty labels are dropped, and a label over 63 characters is an error, as the pydns library did.</item>
/// </list>
/// </summary>
internal sealed class SuiteZone : ISpfDns
{
    private readonly Dictionary<string, List<Entry>> _names;

    private SuiteZone(Dictionary<string, List<Entry>> names) => _names = names;

    public static SuiteZone FromZoneData(YamlMappingNode zoneData)
    {
        var names = new Dictionary<string, List<Entry>>(StringComparer.Ordinal);
        foreach (var (key, value) in zoneData)
        {
            var name = ((YamlScalarNode)key).Value!;
            var entries = new List<Entry>();
            var generatedTxt = new List<Entry>();
            var hasTxt = false;
            foreach (var item in ((YamlSequenceNode)value).Children)
            {
                if (item is YamlScalarNode { Value: "TIMEOUT" })
                {
                    entries.Add(new Entry("TIMEOUT", null, null));
                    continue;
                }

                foreach (var (typeNode, data) in (YamlMappingNode)item)
                {
                    var type = ((YamlScalarNode)typeNode).Value!;
                    switch (type)
                    {
                        case "TXT":
                        case "SPF":
                        {
                            // A record is its list of character-strings, glued together (RFC 7208 §3.3).
                            var strings = data is YamlSequenceNode pieces
                                ? pieces.Children.Select(p => ((YamlScalarNode)p).Value ?? string.Empty).ToList()
                                : [((YamlScalarNode)data).Value ?? string.Empty];
                            var text = string.Concat(strings);
                            if (type == "TXT")
                            {
                                hasTxt = true;
                            }
                            else
                            {
                                generatedTxt.Add(new Entry("TXT", text, null));
                            }

                            if (!(strings.Count == 1 && strings[0] == "NONE"))
                            {
                                entries.Add(new Entry(type, text, null));
                            }

                            break;
                        }

                        case "MX":
                        {
                            var pair = (YamlSequenceNode)data;
                            entries.Add(new Entry("MX", ((YamlScalarNode)pair.Children[1]).Value ?? string.Empty, null));
                            break;
                        }

                        case "A":
                        case "AAAA":
                            entries.Add(new Entry(type, null, IPAddress.Parse(((YamlScalarNode)data).Value!)));
                            break;
                        default:
                            // PTR and CNAME: a host name.
                            entries.Add(new Entry(type, ((YamlScalarNode)data).Value, null));
                            break;
                    }
                }
            }

            if (!hasTxt)
            {
                entries.AddRange(generatedTxt);
            }

            names[name.ToLowerInvariant()] = entries;
        }

        return new SuiteZone(names);
    }

    public Task<SpfDnsAnswer<string>> TxtAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Text(name, "TXT", hostNames: false));

    public Task<SpfDnsAnswer<IPAddress>> AAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Addresses(name, "A"));

    public Task<SpfDnsAnswer<IPAddress>> AaaaAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Addresses(name, "AAAA"));

    public Task<SpfDnsAnswer<string>> MxAsync(string name, CancellationToken cancellationToken) =>
        Task.FromResult(Text(name, "MX", hostNames: true));

    public Task<SpfDnsAnswer<string>> PtrAsync(IPAddress address, CancellationToken cancellationToken) =>
        Task.FromResult(Text(SpfEvaluator.ReverseName(address), "PTR", hostNames: true));

    /// <summary>TXT strings as they are; MX and PTR host names without the root's trailing dot, as resolvers give them.</summary>
    private SpfDnsAnswer<string> Text(string name, string type, bool hostNames)
    {
        var (error, entries) = Lookup(name, type, level: 0);
        return error is not null
            ? SpfDnsAnswer.Temporary<string>(error)
            : SpfDnsAnswer.Found<string>(entries.Select(e => hostNames ? e.Text!.TrimEnd('.') : e.Text!).ToList());
    }

    private SpfDnsAnswer<IPAddress> Addresses(string name, string type)
    {
        var (error, entries) = Lookup(name, type, level: 0);
        return error is not null ? SpfDnsAnswer.Temporary<IPAddress>(error) : SpfDnsAnswer.Found<IPAddress>(entries.Select(e => e.Address!).ToList());
    }

    /// <summary>testspf.py's DNSLookup, record for record.</summary>
    private (string? Error, List<Entry> Records) Lookup(string name, string type, int level)
    {
        var labels = name.Split('.', StringSplitOptions.RemoveEmptyEntries);
        if (labels.Any(l => l.Length > 63))
        {
            return ("DNS label too long", []);
        }

        var key = string.Join('.', labels).ToLowerInvariant();
        if (!_names.TryGetValue(key, out var entries))
        {
            return key.StartsWith("error.", StringComparison.Ordinal) ? ("DNS timeout", []) : (null, []);
        }

        var records = new List<Entry>();
        var timeout = true;
        foreach (var entry in entries)
        {
            if (entry.Type == "TIMEOUT")
            {
                if (timeout)
                {
                    return ("DNS timeout", []);
                }

                break;
            }

            if (entry.Type == type)
            {
                timeout = false;
                records.Add(entry);
            }
            else if (entry.Type == "CNAME" && level == 0)
            {
                var (error, aliased) = Lookup(entry.Text!, type, level + 1);
                if (error is not null)
                {
                    return (error, []);
                }

                records.AddRange(aliased);
            }
        }

        return (null, records);
    }

    private sealed record Entry(string Type, string? Text, IPAddress? Address);
}
