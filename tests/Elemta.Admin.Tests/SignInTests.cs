using System.Net;
using System.Text.RegularExpressions;
using Microsoft.Playwright;
using static Microsoft.Playwright.Assertions;

namespace Elemta.Admin.Tests;

[Collection(AdminCollection.Name)]
public sealed class SignInTests(AdminSilo fixture)
{
    [Fact]
    public async Task A_wrong_password_shows_an_error_and_signs_nobody_in()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        await page.GotoAsync("/login");
        await page.GetByLabel("Account").FillAsync("admin");
        await page.GetByLabel("Password").FillAsync("not-the-password");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();

        await Expect(page.GetByRole(AriaRole.Alert)).ToHaveTextAsync("Wrong account name or password.");
        Assert.Contains("/login", page.Url, StringComparison.Ordinal);
        Assert.DoesNotContain(await context.CookiesAsync(), c => c.Name == "elemta.admin");
        await AdminSilo.ScreenshotAsync(page, "login-wrong-password");

        // Still anonymous: the overview sends the browser back to the login page.
        await page.GotoAsync("/");
        await page.WaitForURLAsync(new Regex("/login\\?returnUrl=%2F$"));
    }

    [Fact]
    public async Task The_dashboard_redirects_to_the_login_and_opens_after_it()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await context.NewPageAsync();
        var response = await page.GotoAsync("/dashboard/");
        Assert.NotNull(response);
        await page.WaitForURLAsync(new Regex("/login\\?returnUrl=%2Fdashboard"));

        await page.GetByLabel("Account").FillAsync("admin");
        await page.GetByLabel("Password").FillAsync(fixture.AdminPassword);
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await page.WaitForURLAsync(new Regex("/dashboard/?$"));

        // The dashboard's own page and its data calls answer now that the cookie is there.
        await Expect(page).ToHaveTitleAsync(new Regex("Orleans", RegexOptions.IgnoreCase));
        var data = await context.APIRequest.GetAsync("/dashboard/DashboardCounters");
        Assert.Equal(200, data.Status);
        await Expect(page.GetByText("Loading...")).ToBeHiddenAsync();
        await Expect(page.GetByText("Active Silos", new() { Exact = false })).ToBeVisibleAsync();
        await AdminSilo.ScreenshotAsync(page, "dashboard");
    }

    [Fact]
    public async Task The_cookie_does_not_authenticate_the_rest_api()
    {
        await using var context = await fixture.NewContextAsync();
        await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword);
        Assert.Contains(await context.CookiesAsync(), c => c.Name == "elemta.admin" && c.HttpOnly);

        // The API takes API keys and Basic only: a page cannot be made to call it with the browser's session.
        var api = await context.APIRequest.GetAsync("/api/queue/stats");
        Assert.Equal((int)HttpStatusCode.Unauthorized, api.Status);
    }

    [Fact]
    public async Task Signing_out_ends_the_session()
    {
        await using var context = await fixture.NewContextAsync();
        var page = await AdminSilo.SignInAsync(context, "admin", fixture.AdminPassword);
        await Expect(page.GetByRole(AriaRole.Heading, new() { Name = "Overview" })).ToBeVisibleAsync();
        await page.GetByRole(AriaRole.Link, new() { Name = "Cluster" }).ClickAsync();
        await Expect(page.Locator("table[aria-label=Silos]")).ToContainTextAsync("Active");
        await page.GetByRole(AriaRole.Button, new() { Name = "Sign out" }).ClickAsync();
        await page.WaitForURLAsync(new Regex("/login"));

        await page.GotoAsync("/queues");
        await page.WaitForURLAsync(new Regex("/login\\?returnUrl="));
    }
}
