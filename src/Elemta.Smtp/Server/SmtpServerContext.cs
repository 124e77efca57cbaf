using System.Net;
using Elemta.Smtp.Protocol;
using Elemta.Smtp.Tls;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp.Server;

/// <summary>What every session of one listener shares: options resolved once, and the services sessions call.</summary>
internal sealed class SmtpServerContext : IDisposable
{
    private readonly NetworkList _relayNetworks;
    private readonly HashSet<string> _relayDomains;

    public SmtpServerContext(IOptions<SmtpServerOptions> options, IMessageAcceptor acceptor, IConnectionPolicy connectionPolicy, TimeProvider timeProvider)
    {
        Options = options.Value;
        Acceptor = acceptor;
        ConnectionPolicy = connectionPolicy;
        TimeProvider = timeProvider;
        HostName = string.IsNullOrWhiteSpace(Options.HostName) ? Dns.GetHostName() : Options.HostName;
        _relayNetworks = new NetworkList(Options.EffectiveRelayNetworks);
        _relayDomains = new HashSet<string>(Options.RelayDomains.Select(d => d.TrimEnd('.')), StringComparer.OrdinalIgnoreCase);
        Certificate = ServerCertificate.Load(Options.Tls, HostName, timeProvider);
    }

    /// <summary>The server certificate; <see cref="ServerCertificate.IsAvailable"/> is false when TLS is not configured.</summary>
    public ServerCertificate Certificate { get; }

    public void Dispose() => Certificate.Dispose();

    public SmtpServerOptions Options { get; }

    public IMessageAcceptor Acceptor { get; }

    public IConnectionPolicy ConnectionPolicy { get; }

    public TimeProvider TimeProvider { get; }

    public string HostName { get; }

    /// <summary>Whether a client at <paramref name="client"/> may send to <paramref name="domain"/>: no open relay.</summary>
    public bool MayRelay(IPAddress client, string domain) =>
        _relayNetworks.Contains(client) || _relayDomains.Contains(domain.TrimEnd('.'));
}
