using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using Elemta.Auth;
using Elemta.Bounces;
using Elemta.Delivery;
using Elemta.Delivery.Local;
using Elemta.Grains;
using Elemta.Smtp;
using Elemta.Storage;
using Elemta.Storage.Postgres;
using Microsoft.Extensions.Configuration;

namespace Elemta.Silo;

/// <summary>
/// Checks every key under <c>Elemta:</c> before anything is bound: a key that names no option (a misspelling such as
/// <c>Elemta__Smtp__Prot</c>) or a value that does not convert to its option's type (<c>RetrySchedule:0=banana</c>)
/// stops the start with one line naming the key and the expected form.
/// </summary>
/// <remarks>
/// Written here because Microsoft.Extensions.Configuration's binder does neither for Elemta's layout: several options
/// classes share a section (<c>Elemta:Queue</c>, <c>Elemta:Delivery</c>), so no single class can refuse unknown keys
/// (<c>BinderOptions.ErrorOnUnknownConfiguration</c>), and the binder skips a list element it cannot convert.
/// </remarks>
internal static class ConfigurationCheck
{
    /// <summary>Every options class and the section it is bound from; a section may have several.</summary>
    private static readonly (string Section, Type Options)[] Sections =
    [
        (ElemtaOptions.SectionName, typeof(ElemtaOptions)),
        (ClusterOptions.SectionName, typeof(ClusterOptions)),
        (ClusterTlsOptions.SectionName, typeof(ClusterTlsOptions)),
        (StorageOptions.SectionName, typeof(StorageOptions)),
        (PostgresStorageOptions.SectionName, typeof(PostgresStorageOptions)),
        (SmtpServerOptions.SectionName, typeof(SmtpServerOptions)),
        (PriorityRulesOptions.SectionName, typeof(PriorityRulesOptions)),
        (QueueOptions.SectionName, typeof(QueueOptions)),
        (DestinationOptions.SectionName, typeof(DestinationOptions)),
        (RateLimitOptions.SectionName, typeof(RateLimitOptions)),
        (DeliveryOptions.SectionName, typeof(DeliveryOptions)),
        (LocalDeliveryOptions.SectionName, typeof(LocalDeliveryOptions)),
        (DnsOptions.SectionName, typeof(DnsOptions)),
        (CredentialOptions.SectionName, typeof(CredentialOptions)),
        (BounceOptions.SectionName, typeof(BounceOptions)),
        (Elemta.Api.Hosting.HttpOptions.SectionName, typeof(Elemta.Api.Hosting.HttpOptions)),
        (Elemta.Admin.Hosting.AdminOptions.SectionName, typeof(Elemta.Admin.Hosting.AdminOptions)),
        (Elemta.Storage.Observability.MetricsOptions.SectionName, typeof(Elemta.Storage.Observability.MetricsOptions)),
        (Observability.LoggingOptions.SectionName, typeof(Observability.LoggingOptions)),
        (Observability.TracingOptions.SectionName, typeof(Observability.TracingOptions)),
        (Elemta.Plugins.PluginOptions.SectionName, typeof(Elemta.Plugins.PluginOptions)),
        (Elemta.Policies.MailAuthentication.MailAuthenticationOptions.SectionName, typeof(Elemta.Policies.MailAuthentication.MailAuthenticationOptions)),
        (Elemta.Policies.RateLimits.MessageRateLimitOptions.SectionName, typeof(Elemta.Policies.RateLimits.MessageRateLimitOptions)),
        (Elemta.Policies.Dnsbl.DnsblOptions.SectionName, typeof(Elemta.Policies.Dnsbl.DnsblOptions)),
        (Elemta.Policies.Greylisting.GreylistingOptions.SectionName, typeof(Elemta.Policies.Greylisting.GreylistingOptions)),
        (Elemta.MailAuth.Dkim.DkimOptions.SectionName, typeof(Elemta.MailAuth.Dkim.DkimOptions)),
        (Elemta.Policies.AccessLists.AccessListOptions.SectionName, typeof(Elemta.Policies.AccessLists.AccessListOptions)),
    ];

    /// <summary>The first problem with the keys under <c>Elemta:</c>, as one line, or null when every key is known and converts.</summary>
    public static string? FindProblem(IConfiguration configuration)
    {
        var root = configuration.GetSection(ElemtaOptions.SectionName);
        return Check(root, Shapes(ElemtaOptions.SectionName));
    }

    /// <summary>What the configuration may hold at <paramref name="path"/>: the options types bound there.</summary>
    private static List<Type> Shapes(string path) =>
        [.. Sections.Where(s => string.Equals(s.Section, path, StringComparison.OrdinalIgnoreCase)).Select(s => s.Options)];

    private static string? Check(IConfigurationSection section, List<Type> types)
    {
        foreach (var child in section.GetChildren())
        {
            var childTypes = new List<Type>();
            foreach (var type in types)
            {
                if (Property(type, child.Key) is { } property)
                {
                    childTypes.Add(property.PropertyType);
                }
            }

            // A sub-section bound by a class of its own (Elemta:Storage:Postgres, Elemta:Queue:Destinations).
            childTypes.AddRange(Shapes(child.Path));
            if (childTypes.Count == 0)
            {
                var known = types.SelectMany(Settable).Select(p => p.Name)
                    .Concat(Sections.Where(s => IsChildOf(s.Section, section.Path)).Select(s => s.Section[(section.Path.Length + 1)..]))
                    .Distinct(StringComparer.OrdinalIgnoreCase).Order(StringComparer.Ordinal);
                return $"unknown setting {child.Path} ({section.Path} has {string.Join(", ", known)})";
            }

            if (CheckValue(child, childTypes[0]) is { } problem)
            {
                return problem;
            }
        }

        return null;
    }

    /// <summary>Checks one key against the type of the option it names.</summary>
    private static string? CheckValue(IConfigurationSection section, Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        if (type == typeof(IConfigurationSection))
        {
            // Free-form: a section handed as it is to its owner (a plugin's Settings), which checks it itself.
            return null;
        }

        if (IsScalar(type))
        {
            if (section.GetChildren().Any())
            {
                return $"{section.Path} is a single value ({Describe(type)}), not a section";
            }

            return section.Value is null || Converts(section.Value, type)
                ? null
                : $"{section.Path} = '{section.Value}' is not {Describe(type)}";
        }

        if (DictionaryValueType(type) is { } valueType)
        {
            // Any key names an entry (a domain, a relay's name); each entry's value is checked as its type.
            foreach (var entry in section.GetChildren())
            {
                if (CheckValue(entry, valueType) is { } problem)
                {
                    return problem;
                }
            }

            return null;
        }

        if (ElementType(type) is { } elementType)
        {
            foreach (var element in section.GetChildren())
            {
                if (!int.TryParse(element.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    return $"{element.Path}: {section.Path} is a list, numbered from 0 ({section.Path}:0, {section.Path}:1, …)";
                }

                if (CheckValue(element, elementType) is { } problem)
                {
                    return problem;
                }
            }

            // A list given as one value (Elemta__Smtp__TrustedNetworks=10.0.0.0/8) binds nothing.
            return section.Value is not null && !section.GetChildren().Any()
                ? $"{section.Path} is a list: give its elements as {section.Path}:0, {section.Path}:1, … (Elemta__…__0 in the environment)"
                : null;
        }

        if (section.Value is not null && !section.GetChildren().Any())
        {
            return $"{section.Path} is a section, not a single value";
        }

        return Check(section, [type, .. Shapes(section.Path)]);
    }

    private static PropertyInfo? Property(Type type, string name) =>
        Settable(type).FirstOrDefault(p => string.Equals(p.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The properties the binder fills: public setters, or public getters of collections and objects it binds into.</summary>
    private static IEnumerable<PropertyInfo> Settable(Type type) =>
        type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Where(p => p.GetIndexParameters().Length == 0
                && (p.SetMethod?.IsPublic == true
                    // A get-only property the binder fills in place: a concrete collection or options object, not a
                    // computed view such as IEnumerable<string> EffectiveTrustedNetworks.
                    || (p.GetMethod?.IsPublic == true && p.PropertyType.IsClass && !IsScalar(p.PropertyType))));

    private static bool IsChildOf(string path, string parent) =>
        path.Length > parent.Length + 1 && path.StartsWith(parent + ":", StringComparison.OrdinalIgnoreCase) && path.IndexOf(':', parent.Length + 1) < 0;

    private static bool IsScalar(Type type)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan)
            || type == typeof(DateTimeOffset) || type == typeof(DateTime) || type == typeof(Uri) || type == typeof(Guid)
            || (TypeDescriptor.GetConverter(type) is { } converter && converter.CanConvertFrom(typeof(string)) && type.GetProperties().Length == 0);
    }

    private static bool Converts(string value, Type type)
    {
        if (type.IsEnum)
        {
            return Enum.TryParse(type, value, ignoreCase: true, out _);
        }

        if (type == typeof(string))
        {
            return true;
        }

        try
        {
            // The binder's own conversion: the type's TypeConverter with the invariant culture.
            TypeDescriptor.GetConverter(type).ConvertFromInvariantString(value);
            return true;
        }
        catch (Exception ex) when (ex is FormatException or NotSupportedException or ArgumentException or OverflowException or InvalidOperationException)
        {
            return false;
        }
    }

    private static string Describe(Type type) =>
        type == typeof(TimeSpan) ? "a time span such as 00:05:00 (hh:mm:ss) or 1.00:00:00 (one day)"
        : type == typeof(bool) ? "true or false"
        : type == typeof(int) || type == typeof(long) ? "a whole number"
        : type == typeof(double) ? "a number"
        : type.IsEnum ? "one of " + string.Join(", ", Enum.GetNames(type))
        : "a " + type.Name;

    private static Type? DictionaryValueType(Type type)
    {
        if (!type.IsGenericType || type.GetGenericArguments() is not [var key, var value] || key != typeof(string))
        {
            return null;
        }

        var definition = type.GetGenericTypeDefinition();
        return definition == typeof(IDictionary<,>) || definition == typeof(IReadOnlyDictionary<,>) || typeof(IDictionary).IsAssignableFrom(type)
            ? value
            : null;
    }

    private static Type? ElementType(Type type)
    {
        if (type.IsArray)
        {
            return type.GetElementType();
        }

        if (type.IsGenericType && typeof(IEnumerable).IsAssignableFrom(type) && type.GetGenericArguments() is [var element])
        {
            return element;
        }

        return null;
    }
}
