using Microsoft.Extensions.Options;

namespace Elemta.Storage.Observability;

/// <summary>Settings of <c>/metrics</c> and the queue gauges (<c>Elemta:Metrics</c>, docs/observability.md).</summary>
public sealed class MetricsOptions
{
    /// <summary>The configuration section.</summary>
    public const string SectionName = "Elemta:Metrics";

    /// <summary>Whether the silo serves <c>/metrics</c> (on the HTTP host of <c>Elemta:Http:Urls</c>). Default true.</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>
    /// Whether <c>/metrics</c> asks for credentials (an API key or an account with the viewer role), as the REST API
    /// does. Default false: Prometheus scrapes without credentials by convention, and the figures hold no addresses.
    /// </summary>
    public bool RequireAuthentication { get; set; }

    /// <summary>How often the queue gauges are read from the store's counters. Default 15 seconds.</summary>
    public TimeSpan QueueInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How many domains <c>elemta_queue_domain_messages</c> shows (those with the most entries). Default 10.</summary>
    public int TopDomains { get; set; } = 10;
}

/// <summary>Checks <see cref="MetricsOptions"/> at start.</summary>
public sealed class MetricsOptionsValidator : IValidateOptions<MetricsOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, MetricsOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        if (options.QueueInterval < TimeSpan.FromSeconds(1) || options.QueueInterval > TimeSpan.FromHours(1))
        {
            return ValidateOptionsResult.Fail("Elemta:Metrics:QueueInterval must be between 00:00:01 and 01:00:00.");
        }

        if (options.TopDomains is < 0 or > 100)
        {
            return ValidateOptionsResult.Fail("Elemta:Metrics:TopDomains must be between 0 and 100 (each domain is a time series).");
        }

        return ValidateOptionsResult.Success;
    }
}
