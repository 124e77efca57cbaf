using Deque.AxeCore.Commons;
using Deque.AxeCore.Playwright;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Elemta.Admin.Tests;

/// <summary>axe-core's rules (WCAG 2 A and AA) run in chromium on the main pages: no serious or critical violation.</summary>
[Collection(AdminCollection.Name)]
public sealed class AccessibilityTests(AdminSilo fixture)
{
    [Fact]
    public async Task The_login_overview_queue_message_and_access_list_pages_have_no_serious_axe_violation_and_load_nothing_from_elsewhere()
    {
        var id = await fixture.SendAsync($"a11y-{Guid.NewGuid():N}@example.org", "grace@deferred.test", "Accessible");
        await fixture.WaitForStateAsync(id, "deferred");

        await using var context = await fixture.NewContextAsync();

        // Every script, style and font comes from the silo: no request leaves for a CDN.
        var hosts = new System.Collections.Concurrent.ConcurrentBag<string>();
        context.Request += (_, request) => hosts.Add(new Uri(request.Url).Host);
        var login = await context.NewPageAsync();
        await login.GotoAsync("/login");
        await CheckAsync(login, "login");

        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword);
        await Expect(page.Locator("[data-state=deferred]")).ToBeVisibleAsync();
        await CheckAsync(page, "overview");

        await page.GotoAsync("/queues/deferred");
        await Expect(page.Locator("tr", new() { HasText = id })).ToBeVisibleAsync();
        await CheckAsync(page, "queues");

        await page.GotoAsync($"/messages/{id}");
        await Expect(page.Locator("section.why")).ToBeVisibleAsync();
        await CheckAsync(page, "message");

        await page.GotoAsync("/access");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Access list" })).ToBeVisibleAsync();
        await CheckAsync(page, "access list");

        await page.GotoAsync("/dashboard/");
        await Expect(page.GetByText("Loading...")).ToBeHiddenAsync();
        Assert.All(hosts, h => Assert.Equal("127.0.0.1", h));
    }

    private static async Task CheckAsync(IPage page, string name)
    {
        var result = await page.RunAxe(new AxeRunOptions
        {
            RunOnly = new RunOnlyOptions { Type = "tag", Values = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
        });
        var serious = result.Violations.Where(v => v.Impact is "serious" or "critical").ToList();
        Assert.True(serious.Count == 0, $"{name}: " + string.Join("\n", serious.Select(v =>
            $"{v.Id} ({v.Impact}): {v.Help} — {string.Join("; ", v.Nodes.Take(3).Select(n => string.Join(" ", n.Target)))}")));
    }
}
