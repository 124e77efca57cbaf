using System.Text;
using System.Text.RegularExpressions;
using Elemta.Contracts;
using Elemta.Delivery.Local;
using static Elemta.Delivery.Tests.DeliveryTestKit;
using static Elemta.Delivery.Tests.Local.LocalTestKit;

namespace Elemta.Delivery.Tests.Local;

/// <summary>Maildir delivery into a real temp directory.</summary>
public sealed partial class MaildirDeliveryAgentTests : IDisposable
{
    private const string Domain = "local.test";
    private readonly string _directory = Directory.CreateTempSubdirectory("elemta-maildir-").FullName;

    /// <summary>The mail root: <c>{_directory}/mail</c>, so that anything written beside it is an escape.</summary>
    private string Root => Path.Combine(_directory, "mail");

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private MaildirDeliveryAgent Agent(bool createMailboxes = true, bool headers = true) => MaildirAgent(OneDomain(Domain, new LocalDomainOptions
    {
        Transport = "Maildir",
        MaildirPath = Path.Combine(Root, "{domain}", "{user}", "Maildir"),
        CreateMailboxes = createMailboxes,
        AddReturnPath = headers,
        AddDeliveredTo = headers,
    }));

    private string Maildir(string user) => Path.Combine(Root, Domain, user, "Maildir");

    [GeneratedRegex(@"^(\d+)\.M(\d+)P(\d+)Q(\d+)\.[^/:]+,S=(\d+)$")]
    private static partial Regex UniqueName();

    [Fact]
    public async Task Message_lands_in_new_byte_identical_after_the_prepended_headers_and_nothing_stays_in_tmp()
    {
        var content = SimpleMessage("alice@local.test");
        var attempt = await Agent().DeliverAsync(Work(Domain, "sender@origin.test", "alice@local.test", "bob@local.test"), content, Token());

        Assert.Equal(MaildirDeliveryAgent.RemoteHostName, attempt.RemoteHost);
        Assert.True(attempt.Duration >= TimeSpan.Zero);
        foreach (var user in (string[])["alice", "bob"])
        {
            var result = ResultFor(attempt, $"{user}@local.test");
            Assert.Equal(RecipientOutcome.Delivered, result.Outcome);
            Assert.Equal(DeliveryError.None, result.Error);
            Assert.StartsWith("250 2.0.0", result.Reply, StringComparison.Ordinal);

            var file = Assert.Single(Directory.GetFiles(Path.Combine(Maildir(user), "new")));
            var expected = Encoding.ASCII.GetBytes($"Return-Path: <sender@origin.test>\r\nDelivered-To: {user}@local.test\r\n").Concat(content).ToArray();
            Assert.Equal(expected, await File.ReadAllBytesAsync(file));
            Assert.Empty(Directory.GetFileSystemEntries(Path.Combine(Maildir(user), "tmp")));
            Assert.True(Directory.Exists(Path.Combine(Maildir(user), "cur")));

            var name = UniqueName().Match(Path.GetFileName(file));
            Assert.True(name.Success, $"'{Path.GetFileName(file)}' is not a Maildir unique name");
            Assert.Equal(Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture), name.Groups[3].Value);
            Assert.Equal(new FileInfo(file).Length.ToString(System.Globalization.CultureInfo.InvariantCulture), name.Groups[5].Value);
        }
    }

    [Fact]
    public async Task Two_messages_to_one_mailbox_get_distinct_names()
    {
        var agent = Agent();
        await agent.DeliverAsync(Work(Domain, "s@origin.test", "alice@local.test"), SimpleMessage(), Token());
        await agent.DeliverAsync(Work(Domain, "s@origin.test", "alice@local.test"), SimpleMessage(), Token());

        Assert.Equal(2, Directory.GetFiles(Path.Combine(Maildir("alice"), "new")).Length);
    }

    [Fact]
    public async Task Headers_are_not_prepended_when_turned_off_and_the_null_sender_is_written_empty()
    {
        var content = SimpleMessage();
        var plain = await Agent(headers: false).DeliverAsync(Work(Domain, "s@origin.test", "alice@local.test"), content, Token());
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(plain.Results).Outcome);
        Assert.Equal(content, await File.ReadAllBytesAsync(Assert.Single(Directory.GetFiles(Path.Combine(Maildir("alice"), "new")))));

        var bounce = await Agent().DeliverAsync(Work(Domain, string.Empty, "bob@local.test"), content, Token());
        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(bounce.Results).Outcome);
        var text = await File.ReadAllTextAsync(Assert.Single(Directory.GetFiles(Path.Combine(Maildir("bob"), "new"))));
        Assert.StartsWith("Return-Path: <>\r\n", text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_local_part_is_lower_cased()
    {
        var attempt = await Agent().DeliverAsync(Work(Domain, "s@origin.test", "Alice.Smith@local.test"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, Assert.Single(attempt.Results).Outcome);
        Assert.Single(Directory.GetFiles(Path.Combine(Maildir("alice.smith"), "new")));
    }

    [Theory]
    [InlineData("../evil@local.test")]
    [InlineData("..@local.test")]
    [InlineData(".@local.test")]
    [InlineData(".hidden@local.test")]
    [InlineData("a/b@local.test")]
    [InlineData("a\\b@local.test")]
    [InlineData("a\0b@local.test")]
    [InlineData("a\nb@local.test")]
    [InlineData("@local.test")]
    public async Task Traversal_attempts_are_refused_permanently_and_nothing_is_written_outside_the_root(string recipient)
    {
        var attempt = await Agent().DeliverAsync(Work(Domain, "s@origin.test", recipient, "alice@local.test"), SimpleMessage(), Token());

        var refused = ResultFor(attempt, recipient);
        Assert.Equal(RecipientOutcome.Permanent, refused.Outcome);
        Assert.StartsWith("550 5.1.1", refused.Reply, StringComparison.Ordinal);
        Assert.Equal(DeliveryError.Local, refused.Error);
        Assert.Equal(RecipientOutcome.Delivered, ResultFor(attempt, "alice@local.test").Outcome);

        // Only the good recipient's mailbox exists, under the root; nothing else anywhere in the temp directory.
        Assert.Equal([Root], Directory.GetFileSystemEntries(_directory));
        Assert.Equal([Path.Combine(Root, Domain)], Directory.GetFileSystemEntries(Root));
        Assert.Equal([Path.Combine(Root, Domain, "alice")], Directory.GetFileSystemEntries(Path.Combine(Root, Domain)));
    }

    [Fact]
    public async Task Unknown_mailboxes_are_refused_when_creation_is_off_and_existing_ones_are_delivered_to()
    {
        // A mailbox an administrator made: just the directory; the agent adds tmp/new/cur.
        Directory.CreateDirectory(Maildir("alice"));
        var attempt = await Agent(createMailboxes: false).DeliverAsync(Work(Domain, "s@origin.test", "alice@local.test", "nobody@local.test"), SimpleMessage(), Token());

        Assert.Equal(RecipientOutcome.Delivered, ResultFor(attempt, "alice@local.test").Outcome);
        Assert.Single(Directory.GetFiles(Path.Combine(Maildir("alice"), "new")));
        var unknown = ResultFor(attempt, "nobody@local.test");
        Assert.Equal(RecipientOutcome.Permanent, unknown.Outcome);
        Assert.StartsWith("550 5.1.1", unknown.Reply, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(Root, Domain, "nobody")));
    }

    [Fact]
    public async Task An_io_error_is_transient_for_that_recipient_only()
    {
        // tmp/ is a file: the write fails as a broken or full disk would, for this mailbox only.
        Directory.CreateDirectory(Maildir("alice"));
        await File.WriteAllTextAsync(Path.Combine(Maildir("alice"), "tmp"), "not a directory");

        var attempt = await Agent().DeliverAsync(Work(Domain, "s@origin.test", "alice@local.test", "bob@local.test"), SimpleMessage(), Token());

        var failed = ResultFor(attempt, "alice@local.test");
        Assert.Equal(RecipientOutcome.Transient, failed.Outcome);
        Assert.StartsWith("451 4.3.0", failed.Reply, StringComparison.Ordinal);
        Assert.Equal(DeliveryError.Local, failed.Error);
        Assert.Equal(RecipientOutcome.Delivered, ResultFor(attempt, "bob@local.test").Outcome);
    }

    [Fact]
    public async Task A_domain_not_configured_for_Maildir_is_transient()
    {
        var attempt = await Agent().DeliverAsync(Work("elsewhere.test", "s@origin.test", "alice@elsewhere.test"), SimpleMessage(), Token());

        var result = Assert.Single(attempt.Results);
        Assert.Equal(RecipientOutcome.Transient, result.Outcome);
        Assert.Equal(DeliveryError.Local, result.Error);
        Assert.False(Directory.Exists(Root));
    }
}
