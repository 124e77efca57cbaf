using Elemta.MailAuth.Arc;
using MimeKit;
using MimeKit.Cryptography;

namespace Elemta.MailAuth.Tests.Arc;

/// <summary>
/// Elemta's chain validation (<see cref="ArcChainVerifier"/>: MimeKit's steps, .NET's RSA) against MimeKit's
/// <see cref="ArcVerifier"/> itself over every message of the public ARC test suite: the same chain result and the
/// same error flags, case by case.
/// </summary>
public sealed class ArcFastPathTests
{
    private static CancellationToken Token() => new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token;

    private static ArcKeyLocator Locator(IReadOnlyDictionary<string, string> txtRecords)
    {
        var dns = new MemoryDns();
        foreach (var (name, text) in txtRecords)
        {
            dns.Txt(name, text);
        }

        return new ArcKeyLocator(dns);
    }

    [Fact]
    public async Task Its_chain_results_and_errors_equal_MimeKits_on_every_suite_message()
    {
        var compared = 0;
        var differences = new List<string>();
        var results = new HashSet<ArcSignatureValidationResult>();
        foreach (var suiteCase in ArcSuite.ValidationCases)
        {
            MimeMessage message;
            try
            {
                message = MimeMessage.Load(new MemoryStream(ArcSuite.ToWire(suiteCase.Message)));
            }
            catch (FormatException)
            {
                // The empty message: MimeKit cannot parse it, so there is nothing to compare.
                continue;
            }

            var locator = Locator(suiteCase.TxtRecords);
            var theirs = await new ArcVerifier(locator).VerifyAsync(message, Token());
            var options = FormatOptions.Default.Clone();
            options.NewLineFormat = NewLineFormat.Dos;
            using var bytes = new MemoryStream();
            await message.WriteToAsync(options, bytes, Token());
            var (chain, errors) = await ArcChainVerifier.VerifyAsync(bytes.ToArray(), locator, Token());

            compared++;
            results.Add(chain);
            if (chain != theirs.Chain || errors != theirs.ChainErrors)
            {
                differences.Add($"{suiteCase.Scenario} / {suiteCase.Name}: Elemta {chain} ({errors}), MimeKit {theirs.Chain} ({theirs.ChainErrors})");
            }
        }

        Assert.True(differences.Count == 0, string.Join("\n", differences));
        Assert.True(compared >= 170, $"only {compared} suite messages compared");
        Assert.Equal(3, results.Count);
    }

    [Fact]
    public async Task The_stored_bytes_and_the_parsed_message_validate_alike()
    {
        var suiteCase = ArcSuite.ValidationCases.First(c => c.Name == "cv_pass_i1_1");
        var wire = ArcSuite.ToWire(suiteCase.Message);
        var validator = new ArcValidator(Locator(suiteCase.TxtRecords));

        var fromBytes = await validator.ValidateAsync(wire, Token());
        var fromMessage = await validator.ValidateAsync(MimeMessage.Load(new MemoryStream(wire)), Token());

        Assert.Equal(ArcChainStatus.Pass, fromBytes.Status);
        Assert.Equal(fromMessage, fromBytes);
    }
}
