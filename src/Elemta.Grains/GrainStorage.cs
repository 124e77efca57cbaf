namespace Elemta.Grains;

/// <summary>Names shared between the grains and the silo's storage configuration.</summary>
public static class GrainStorage
{
    /// <summary>The grain storage provider every Elemta grain persists through.</summary>
    public const string ProviderName = "elemta";
}
