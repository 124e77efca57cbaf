using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Options;

namespace Elemta.Api.Hosting;

/// <summary>Where the admin plane listens (<c>Elemta:Http</c>): the REST API and its OpenAPI document.</summary>
public sealed class HttpOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Http";

    /// <summary>The default address: loopback only, so the admin plane is not reachable from elsewhere unless configured.</summary>
    public const string DefaultUrls = "http://127.0.0.1:8025";

    /// <summary>Whether the host serves HTTP at all. On by default.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// The addresses to listen on, separated by <c>;</c>: <c>http://127.0.0.1:8025</c>, <c>http://[::1]:8025</c>,
    /// <c>http://0.0.0.0:8025</c> for every IPv4 address, <c>http://localhost:8025</c> for both loopbacks.
    /// </summary>
    public string Urls { get; set; } = DefaultUrls;

    /// <summary>Serve the interactive API reference at <c>/scalar</c> (on with <c>--dev</c>).</summary>
    public bool ApiReference { get; set; }

    /// <summary>The addresses of <see cref="Urls"/>, one per entry.</summary>
    public IReadOnlyList<string> UrlList() =>
        [.. (Urls ?? string.Empty).Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)];
}

/// <summary>Checks <see cref="HttpOptions"/> at start, naming the key of each problem.</summary>
public sealed class HttpOptionsValidator : IValidateOptions<HttpOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, HttpOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }

        var urls = options.UrlList();
        if (urls.Count == 0)
        {
            return ValidateOptionsResult.Fail($"{HttpOptions.SectionName}:Urls must name at least one address, e.g. {HttpOptions.DefaultUrls} (or set {HttpOptions.SectionName}:Enabled=false).");
        }

        var failures = new List<string>();
        foreach (var url in urls)
        {
            BindingAddress address;
            try
            {
                address = BindingAddress.Parse(url);
            }
            catch (FormatException)
            {
                failures.Add($"{HttpOptions.SectionName}:Urls: '{url}' is not an address such as {HttpOptions.DefaultUrls}.");
                continue;
            }

            // TLS for the admin plane needs a certificate this host is not configured with yet: say so rather than
            // let Kestrel fail on a missing development certificate.
            if (!string.Equals(address.Scheme, "http", StringComparison.OrdinalIgnoreCase))
            {
                failures.Add($"{HttpOptions.SectionName}:Urls: '{url}': only http:// is served; put a TLS-terminating proxy in front for https.");
            }
            else if (address.IsUnixPipe || address.Port is < 1 or > 65535 || string.IsNullOrEmpty(address.Host))
            {
                failures.Add($"{HttpOptions.SectionName}:Urls: '{url}' needs a host and a port (1-65535).");
            }
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
