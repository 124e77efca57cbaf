using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Elemta.Admin.Tests;

/// <summary>The operator's way through the admin app, in chromium against a real silo.</summary>
[Collection(AdminCollection.Name)]
public sealed class QueueTests(AdminSilo fixture, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_sent_message_appears_without_reloading_and_can_be_explained_held_released_and_deleted()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword, "/queues/deferred");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Queues" })).ToBeVisibleAsync();

        // A marker in the page's JavaScript state: it survives only if the page is never reloaded.
        await page.EvaluateAsync("() => window.__elemtaMarker = 'still here'");

        var sender = $"live-{Guid.NewGuid():N}@example.org";
        var id = await fixture.SendAsync(sender, "bob@deferred.test", "Stuck on purpose", "This message waits: its destination refuses connections.");
        await fixture.WaitForStateAsync(id, "deferred");
        var sinceDeferred = System.Diagnostics.Stopwatch.StartNew();

        var row = page.Locator("tr", new() { HasText = id });
        await Expect(row).ToBeVisibleAsync();
        output.WriteLine($"deferred (seen by the REST API) -> row shown without reload: {sinceDeferred.ElapsedMilliseconds} ms (refresh interval 1 s)");
        await Expect(row).ToContainTextAsync(sender);
        Assert.Equal("still here", await page.EvaluateAsync<string>("() => window.__elemtaMarker"));
        await AdminSilo.ScreenshotAsync(page, "queues-deferred");

        // The detail page says why it waits.
        await row.GetByRole(AriaRole.Link, new() { Name = id }).ClickAsync();
        await page.WaitForURLAsync(new Regex($"/messages/{id}$"));
        var why = page.Locator("section.why");
        await Expect(why.GetByRole(AriaRole.Heading, new() { Name = "Why it waits" })).ToBeVisibleAsync();
        await Expect(why).ToContainTextAsync("deferred.test");
        await Expect(page.Locator("pre.body-preview")).ToContainTextAsync("its destination refuses connections");
        await Expect(page.Locator("ol.timeline")).ToContainTextAsync("deferred.test");
        await AdminSilo.ScreenshotAsync(page, "message-detail");

        // A new priority, shown by the badge and audited.
        await page.GetByLabel("Priority").SelectOptionAsync("High");
        await Button(page, "Set priority").ClickAsync();
        await Expect(page.Locator(".message-head")).ToContainTextAsync("high");

        // Hold, then release.
        await Button(page, "Hold").ClickAsync();
        await Expect(page.Locator(".message-head")).ToContainTextAsync("Held");
        await fixture.WaitForStateAsync(id, "held");
        await Button(page, "Release").ClickAsync();
        await Expect(Button(page, "Hold")).ToBeVisibleAsync();
        await Expect(page.Locator(".message-head")).Not.ToContainTextAsync("Held");

        // Delete asks first; cancelling keeps the message.
        await Button(page, "Delete").ClickAsync();
        var dialog = page.Locator("fluent-dialog");
        await Expect(dialog).ToContainTextAsync($"Delete message {id}?");
        await AdminSilo.ScreenshotAsync(page, "message-delete-confirmation");
        await dialog.Locator("fluent-button", new() { HasText = "Cancel" }).ClickAsync();
        await Expect(page.Locator("section.why")).ToBeVisibleAsync();

        await Button(page, "Delete").ClickAsync();
        await dialog.Locator("fluent-button", new() { HasText = "Delete" }).ClickAsync();
        await Expect(page.GetByText($"No message {id}")).ToBeVisibleAsync();

        using var api = fixture.Basic("admin", fixture.AdminPassword);
        using var gone = await api.GetAsync($"/api/queue/message/{id}");
        Assert.Equal(System.Net.HttpStatusCode.NotFound, gone.StatusCode);

        // Each action is in the audit log with the signed-in account as actor.
        var audit = await api.GetStringAsync($"/api/audit?subject={id}");
        foreach (var action in new[] { "message.priority", "message.hold", "message.release", "message.delete" })
        {
            Assert.Contains($"\"action\":\"{action}\"", audit, StringComparison.Ordinal);
        }

        Assert.Contains("\"actor\":\"admin\"", audit, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Flushing_a_queue_asks_first_and_makes_its_messages_due()
    {
        var id = await fixture.SendAsync($"flush-{Guid.NewGuid():N}@example.org", "carol@deferred.test", "To be flushed");
        await fixture.WaitForStateAsync(id, "deferred");

        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword, "/queues/deferred");
        await Expect(page.Locator("tr", new() { HasText = id })).ToBeVisibleAsync();

        await Button(page, "Flush deferred queue").ClickAsync();
        var dialog = page.Locator("fluent-dialog");
        await Expect(dialog).ToContainTextAsync("Make every deferred message due now");
        await dialog.Locator("fluent-button", new() { HasText = "Flush" }).ClickAsync();

        // The toast says what changed; the flush is audited.
        await Expect(page.GetByText(new Regex("Done: messages=[1-9]"))).ToBeVisibleAsync();
        await AdminSilo.ScreenshotAsync(page, "queues-flushed");
        using var api = fixture.Basic("admin", fixture.AdminPassword);
        Assert.Contains("\"action\":\"queue.flush\"", await api.GetStringAsync("/api/audit?subject=deferred"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Selected_messages_are_held_together_after_a_confirmation()
    {
        var first = await fixture.SendAsync($"bulk-{Guid.NewGuid():N}@example.org", "heidi@deferred.test", "Bulk one");
        var second = await fixture.SendAsync($"bulk-{Guid.NewGuid():N}@example.org", "ivan@deferred.test", "Bulk two");
        await fixture.WaitForStateAsync(first, "deferred");
        await fixture.WaitForStateAsync(second, "deferred");

        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword, "/queues/deferred");
        await page.GetByLabel($"Select message {first}").CheckAsync();
        await page.GetByLabel($"Select message {second}").CheckAsync();
        await Expect(page.GetByText("2 selected")).ToBeVisibleAsync();

        await Button(page, "Hold selected").ClickAsync();
        var dialog = page.Locator("fluent-dialog");
        await Expect(dialog).ToContainTextAsync("Hold 2 selected message(s)?");
        await dialog.Locator("fluent-button", new() { HasText = "Hold" }).ClickAsync();
        await Expect(page.GetByText("2 of 2 done")).ToBeVisibleAsync();
        await fixture.WaitForStateAsync(first, "held");
        await fixture.WaitForStateAsync(second, "held");

        // They left the deferred tab, and the held tab lists them.
        await Expect(page.Locator("tr", new() { HasText = first })).ToHaveCountAsync(0);
        await page.GetByRole(AriaRole.Link, new() { Name = "Held" }).ClickAsync();
        await Expect(page.Locator("tr", new() { HasText = first })).ToBeVisibleAsync();
        await Expect(page.Locator("tr", new() { HasText = second }).Locator("fluent-button", new() { HasText = "Release" })).ToBeVisibleAsync();
    }

    [Fact]
    public async Task The_overview_counts_messages_per_state()
    {
        var id = await fixture.SendAsync($"overview-{Guid.NewGuid():N}@example.org", "dave@deferred.test", "Counted");
        await fixture.WaitForStateAsync(id, "deferred");

        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Overview" })).ToBeVisibleAsync();
        await Expect(page.Locator("[data-state=deferred]")).Not.ToHaveTextAsync("0");
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "deferred.test" })).ToBeVisibleAsync();
        await AdminSilo.ScreenshotAsync(page, "overview");
    }

    [Fact]
    public async Task A_domain_page_explains_its_queue_and_holds_and_releases_it_and_the_audit_page_shows_it()
    {
        var id = await fixture.SendAsync($"domain-{Guid.NewGuid():N}@example.org", "frank@deferred.test", "Domain action");
        await fixture.WaitForStateAsync(id, "deferred");

        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword, "/domains/deferred.test");
        var panel = page.Locator("section.panel");
        await Expect(panel.GetByRole(AriaRole.Heading, new() { Name = "deferred.test" })).ToBeVisibleAsync();
        await Expect(panel).ToContainTextAsync("Circuit");
        await Expect(panel).ToContainTextAsync("Connection refused");

        await Button(page, "Hold domain").ClickAsync();
        await Expect(page.GetByText(new Regex("Done: messages=[1-9]"))).ToBeVisibleAsync();
        await fixture.WaitForStateAsync(id, "held");
        await Button(page, "Release domain").ClickAsync();
        await Expect(panel).ToContainTextAsync("(0 held)");

        await page.GetByRole(AriaRole.Link, new() { Name = "Audit log" }).ClickAsync();
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Audit log" })).ToBeVisibleAsync();
        var record = page.Locator("tr", new() { HasText = "domain.hold" }).First;
        await Expect(record).ToContainTextAsync("deferred.test");
        await Expect(record).ToContainTextAsync("admin");
    }

    [Fact]
    public async Task A_viewer_sees_the_queue_but_no_action_and_no_admin_page()
    {
        var id = await fixture.SendAsync($"viewer-{Guid.NewGuid():N}@example.org", "erin@deferred.test", "Seen by a viewer");
        await fixture.WaitForStateAsync(id, "deferred");

        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, AdminSilo.ViewerName, AdminSilo.ViewerPassword, "/queues/deferred");
        var row = page.Locator("tr", new() { HasText = id });
        await Expect(row).ToBeVisibleAsync();
        await Expect(row.Locator("fluent-button")).ToHaveCountAsync(0);
        await Expect(page.Locator("fluent-button", new() { HasText = "Flush" })).ToHaveCountAsync(0);

        await page.GotoAsync($"/messages/{id}");
        await Expect(page.Locator("section.why")).ToBeVisibleAsync();
        await Expect(page.Locator(".message-head fluent-button")).ToHaveCountAsync(0);

        await page.GotoAsync("/keys");
        await Expect(page.GetByText("Your role does not allow this page")).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Link, new() { Name = "API keys" })).ToHaveCountAsync(0);
    }

    [Fact]
    public async Task The_pages_fit_a_narrow_screen()
    {
        await using var context = await fixture.NewContextAsync(width: 390, height: 844);
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword, "/queues/deferred");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Queues" })).ToBeVisibleAsync();
        await Expect(page.GetByRole(AriaRole.Navigation, new() { Name = "Main" })).ToBeVisibleAsync();

        // Nothing wider than the screen but the scrolling navigation row and the grid's own scroller.
        var overflow = await page.EvaluateAsync<int>("() => document.documentElement.scrollWidth - window.innerWidth");
        Assert.True(overflow <= 0, $"the page is {overflow}px wider than the screen");
        await AdminSilo.ScreenshotAsync(page, "queues-narrow");
    }

    private static ILocator Button(IPage page, string text) =>
        page.Locator("main fluent-button", new() { HasTextRegex = new Regex($"^\\s*{Regex.Escape(text)}\\s*$") });
}
