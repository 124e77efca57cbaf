using System.Net;
using Elemta.Auth;
using Elemta.Smtp.Protocol;
using Elemta.Smtp.Tls;
using Microsoft.Extensions.Options;

namespace Elemta.Smtp.Server;

/// <summary>What every session of one listener shares: options resolved once, and the services sessions call.</summary>
internal sealed class SmtpServerContext : IDisposable
{
    private readonly NetworkList _trustedNetworks;
    private readonly HashSet<string> _relayDomains;

    public SmtpServerContext(
        IOptions<SmtpServerOptions> options,
        IMessageAcceptor acceptor,
        IUserStore users,
        IOptions<CredentialOptions> credentials,
        TimeProvider timeProvider,
        Storage.QueueSpace? queueSpace = null,
        Plugins.PluginHost? plugins = null)
    {
        // None outside a host (the fuzz targets, benchmarks): every hook site then sees empty families.
        Plugins = plugins ?? Elemta.Plugins.PluginHost.None;
        QueueSpace = queueSpace;
        Options = options.Value;
        Acceptor = acceptor;
        Users = users;
        TimeProvider = timeProvider;
        HostName = string.IsNullOrWhiteSpace(Options.HostName) ? Dns.GetHostName() : Options.HostName;
        // Checked for unknown names so that they cost what a known name costs: timing does not reveal accounts.
        DecoyPassword = Passwords.Decoy(credentials.Value);
        _trustedNetworks = new NetworkList(Options.EffectiveTrustedNetworks);
        _relayDomains = new HashSet<string>(Options.RelayDomains.Concat(Options.LocalDomains).Select(d => d.TrimEnd('.')), StringComparer.OrdinalIgnoreCase);
        Certificate = ServerCertificate.Load(Options.Tls, HostName, timeProvider);
    }

    /// <summary>The server certificate; <see cref="ServerCertificate.IsAvailable"/> is false when TLS is not configured.</summary>
    public ServerCertificate Certificate { get; }

    public void Dispose() => Certificate.Dispose();

    public SmtpServerOptions Options { get; }

    public IMessageAcceptor Acceptor { get; }

    /// <summary>The queue disk's free space; null where no store is registered (the SMTP server alone, in tests).</summary>
    public Storage.QueueSpace? QueueSpace { get; }

    /// <summary>
    /// Takes one of the <see cref="SmtpServerOptions.MaxConnections"/> places of this front-end; false (nothing taken)
    /// when all are held. A local count, like Postfix's smtpd process limit: what it protects (sockets, memory, CPU)
    /// belongs to one machine. The per-address limits are the <c>connection-limits</c> plugin's.
    /// </summary>
    public bool TryOpenConnection()
    {
        if (Interlocked.Increment(ref _open) <= Options.MaxConnections)
        {
            return true;
        }

        Interlocked.Decrement(ref _open);
        return false;
    }

    /// <summary>Gives back a place <see cref="TryOpenConnection"/> took.</summary>
    public void CloseConnection() => Interlocked.Decrement(ref _open);

    private int _open;

    /// <summary>The plugins whose hooks sessions call (an empty set when none are configured).</summary>
    public Plugins.PluginHost Plugins { get; }

    public IUserStore Users { get; }

    public Contracts.PasswordHash DecoyPassword { get; }

    /// <summary>A per-process secret for SCRAM's decoy salts (names without an account).</summary>
    public byte[] DecoySecret { get; } = System.Security.Cryptography.RandomNumberGenerator.GetBytes(32);

    public TimeProvider TimeProvider { get; }

    public string HostName { get; }

    /// <summary>Whether <paramref name="client"/> is in the trusted networks, which may relay without AUTH.</summary>
    public bool IsTrusted(IPAddress client) => _trustedNetworks.Contains(client);

    /// <summary>Whether Elemta takes mail for <paramref name="domain"/> from any client (a local or relay domain).</summary>
    public bool IsRelayDomain(string domain) => _relayDomains.Contains(domain.TrimEnd('.'));
}
