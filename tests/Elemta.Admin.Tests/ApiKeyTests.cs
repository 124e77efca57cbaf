using System.Net;
using System.Net.Http.Headers;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Elemta.Admin.Tests;

[Collection(AdminCollection.Name)]
public sealed class ApiKeyTests(AdminSilo fixture)
{
    [Fact]
    public async Task An_admin_creates_a_key_sees_its_secret_once_and_revokes_it()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword, "/keys");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "API keys" })).ToBeVisibleAsync();

        var name = $"grafana {Guid.NewGuid():N}";
        await page.Locator("fluent-text-input").First.Locator("input").FillAsync(name);
        await page.GetByLabel("Role").SelectOptionAsync("operator");
        await page.Locator("main fluent-button", new() { HasText = "Create key" }).ClickAsync();

        var secret = (await page.Locator("#new-key").InnerTextAsync()).Trim();
        Assert.StartsWith("elemta_", secret, StringComparison.Ordinal);
        var id = secret.Split('_')[1];
        var row = page.Locator("tr", new() { HasText = id });
        await Expect(row).ToContainTextAsync(name);
        await Expect(row).ToContainTextAsync("operator");
        await AdminSilo.ScreenshotAsync(page, "api-key-created");

        // The key works on the REST API; the listing never shows the secret.
        using var client = new HttpClient { BaseAddress = fixture.Silo.HttpUrl };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", secret);
        using (var ok = await client.GetAsync("/api/queue/stats"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        await page.ReloadAsync();
        await Expect(page.Locator("tr", new() { HasText = id })).ToBeVisibleAsync();
        Assert.DoesNotContain(secret, await page.ContentAsync(), StringComparison.Ordinal);

        await page.Locator("tr", new() { HasText = id }).Locator("fluent-button", new() { HasText = "Revoke" }).ClickAsync();
        var dialog = page.Locator("fluent-dialog");
        await Expect(dialog).ToContainTextAsync($"Revoke key {id}");
        await dialog.Locator("fluent-button", new() { HasText = "Revoke" }).ClickAsync();
        await Expect(page.Locator("tr", new() { HasText = id })).ToContainTextAsync("revoked");

        using var refused = await client.GetAsync("/api/queue/stats");
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
    }
}

[Collection(AdminCollection.Name)]
public sealed class UserTests(AdminSilo fixture)
{
    [Fact]
    public async Task An_admin_creates_an_account_whose_password_is_shown_once_and_works_then_deletes_it()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword, "/users");
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Users" })).ToBeVisibleAsync();

        var name = $"ops{Guid.NewGuid():N}"[..12];
        await page.Locator("fluent-text-input").First.Locator("input").FillAsync(name);
        await page.GetByLabel("Role").SelectOptionAsync("operator");
        await page.Locator("main fluent-button", new() { HasText = "Create account" }).ClickAsync();
        var password = (await page.Locator("#new-password").InnerTextAsync()).Trim();
        await Expect(page.Locator("tr", new() { HasText = name })).ToContainTextAsync("operator");

        using (var api = fixture.Basic(name, password))
        using (var ok = await api.GetAsync("/api/queue/stats"))
        {
            Assert.Equal(HttpStatusCode.OK, ok.StatusCode);
        }

        await page.Locator("tr", new() { HasText = name }).Locator("fluent-button", new() { HasText = "Delete" }).ClickAsync();
        var dialog = page.Locator("fluent-dialog");
        await Expect(dialog).ToContainTextAsync($"Delete account {name}?");
        await dialog.Locator("fluent-button", new() { HasText = "Delete" }).ClickAsync();
        await Expect(page.Locator("tr", new() { HasText = name })).ToHaveCountAsync(0);

        using var refused = fixture.Basic(name, password);
        using var gone = await refused.GetAsync("/api/queue/stats");
        Assert.Equal(HttpStatusCode.Unauthorized, gone.StatusCode);
    }
}
