namespace Elemta.MailAuth.Spf;

/// <summary>The outcome of one SPF evaluation.</summary>
/// <param name="Kind">One of the seven results (RFC 7208 §2.6).</param>
/// <param name="Domain">The domain whose policy was evaluated (the top-level <c>&lt;domain&gt;</c> argument).</param>
/// <param name="Mechanism">
/// The directive that decided the result as written in the record (<c>-all</c>, <c>ip4:192.0.2.0/24</c>), or
/// <c>default</c> when no mechanism matched and the result is the default neutral; null for none, temperror and permerror.
/// </param>
/// <param name="Explanation">
/// For <see cref="SpfResultKind.Fail"/> only: the expanded <c>exp=</c> text (RFC 7208 §6.2), or the evaluator's
/// default explanation when the domain publishes none or it cannot be used.
/// </param>
/// <param name="Problem">For none, temperror and permerror: why, in words for a log line or a diagnostic.</param>
public sealed record SpfResult(
    SpfResultKind Kind,
    string Domain,
    string? Mechanism = null,
    string? Explanation = null,
    string? Problem = null)
{
    /// <summary>The result's name as RFC 7208 and RFC 8601 write it (<c>pass</c>, <c>softfail</c>, <c>temperror</c>…).</summary>
    public string Name => Kind switch
    {
        SpfResultKind.None => "none",
        SpfResultKind.Neutral => "neutral",
        SpfResultKind.Pass => "pass",
        SpfResultKind.Fail => "fail",
        SpfResultKind.SoftFail => "softfail",
        SpfResultKind.TempError => "temperror",
        SpfResultKind.PermError => "permerror",
        _ => throw new InvalidOperationException($"Unknown SPF result {Kind}."),
    };
}
