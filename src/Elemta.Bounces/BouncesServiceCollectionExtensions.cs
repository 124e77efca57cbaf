using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;

namespace Elemta.Bounces;

/// <summary>Registers the delivery status notice builder.</summary>
public static class BouncesServiceCollectionExtensions
{
    /// <summary>Binds and validates <c>Elemta:Bounces</c> (at start) and adds <see cref="DeliveryStatusNoticeBuilder"/> as a singleton.</summary>
    public static IServiceCollection AddElemtaBounces(this IServiceCollection services, IConfiguration configuration)
    {
        ArgumentNullException.ThrowIfNull(configuration);
        services.TryAddSingleton(TimeProvider.System);
        services.AddOptions<BounceOptions>().Bind(configuration.GetSection(BounceOptions.SectionName)).ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<BounceOptions>, BounceOptionsValidator>());
        services.TryAddSingleton(sp => new DeliveryStatusNoticeBuilder(
            sp.GetRequiredService<IOptions<BounceOptions>>().Value, sp.GetRequiredService<TimeProvider>()));
        return services;
    }

    private sealed class BounceOptionsValidator : IValidateOptions<BounceOptions>
    {
        public ValidateOptionsResult Validate(string? name, BounceOptions options)
        {
            var errors = options.Validate();
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
    }
}
