using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Elemta.Admin.Tests;

/// <summary>The admin app's access-list page: an admin denies a network, sees it normalised, is told why a bad one is refused, and removes it.</summary>
[Collection(AdminCollection.Name)]
public sealed class AccessListPageTests(AdminSilo fixture)
{
    [Fact]
    public async Task An_admin_denies_a_network_sees_a_bad_one_refused_and_removes_it()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword, "/access");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Access list" })).ToBeVisibleAsync();

        var inputs = page.Locator("fluent-text-input");
        await inputs.Nth(0).Locator("input").FillAsync("198.51.100.7/24");
        await page.Locator("main fluent-button", new() { HasText = "Save entry" }).ClickAsync();
        await Expect(page.Locator("body")).ToContainTextAsync("has host bits set: the network is 198.51.100.0/24");

        await inputs.Nth(0).Locator("input").FillAsync("2001:DB8:0::/48");
        await inputs.Nth(1).Locator("input").FillAsync("admin app test");
        await page.GetByLabel("Action").SelectOptionAsync("Deny");
        await page.Locator("main fluent-button", new() { HasText = "Save entry" }).ClickAsync();
        var row = page.Locator("tr", new() { HasText = "2001:db8::/48" });
        await Expect(row).ToContainTextAsync("deny");
        await Expect(row).ToContainTextAsync("admin app test");

        // The same list the REST API serves, changed by the signed-in admin.
        using var api = fixture.Basic("admin", fixture.AdminPassword);
        var list = await api.GetFromJsonAsync<JsonElement>("/api/access-list");
        Assert.Contains(list.GetProperty("entries").EnumerateArray(), e => e.GetProperty("network").GetString() == "2001:db8::/48" && e.GetProperty("addedBy").GetString() == "admin");

        await row.Locator("fluent-button", new() { HasText = "Remove" }).ClickAsync();
        var dialog = page.Locator("fluent-dialog");
        await Expect(dialog).ToContainTextAsync("Remove 2001:db8::/48 from the access list?");
        await dialog.Locator("fluent-button", new() { HasText = "Remove" }).ClickAsync();
        await Expect(page.Locator("tr", new() { HasText = "2001:db8::/48" })).ToHaveCountAsync(0);
    }
}
