namespace Elemta.MailAuth.Spf;

/// <summary>Settings of <see cref="SpfEvaluator"/> that do not come from DNS.</summary>
public sealed class SpfEvaluatorOptions
{
    /// <summary>
    /// The explanation of a fail when the domain publishes no usable <c>exp=</c> (RFC 7208 §6.2 leaves it to the
    /// receiver). An explanation macro-string: %{d}, %{c}, %{s}… are expanded; if it does not parse it is used as is.
    /// </summary>
    public string DefaultExplanation { get; set; } = "%{d} does not designate %{c} as a permitted sender";

    /// <summary>The %{r} macro: the domain name of the host performing the check (RFC 7208 §7.3; "unknown" if none).</summary>
    public string ReceivingDomain { get; set; } = "unknown";
}
