using System.Net;

namespace Elemta.Admin.Tests;

/// <summary>
/// One data-protection key ring for the cluster (the <c>IDataProtectionKeyRingGrain</c>, in PostgreSQL): a sign-in
/// or an antiforgery token issued by one silo is accepted by the other, as behind a load balancer.
/// </summary>
[Collection(WebClusterCollection.Name)]
public sealed class SharedKeyRingTests(WebCluster cluster, Xunit.Abstractions.ITestOutputHelper output)
{
    [Fact]
    public async Task A_sign_in_on_silo_a_is_accepted_by_silo_b()
    {
        var cookie = await cluster.SignInAsync(cluster.A.HttpUrl);

        using var onB = await WebCluster.GetWithCookieAsync(cluster.B.HttpUrl, "/queues", cookie);
        Assert.Equal(HttpStatusCode.OK, onB.StatusCode);

        // Without it, B sends the browser to its login page: the 200 above is the cookie's doing.
        using var anonymous = await WebCluster.GetWithCookieAsync(cluster.B.HttpUrl, "/queues", "not-a-session");
        Assert.Equal(HttpStatusCode.Redirect, anonymous.StatusCode);
        Assert.Contains("/login", anonymous.Headers.Location!.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_login_form_of_silo_a_can_be_posted_to_silo_b()
    {
        // The antiforgery token and its cookie come from A; B checks them with the same keys. (One cookie jar: cookies
        // are per host, not per port, so A's antiforgery cookie goes to B as a browser would send it to the same name.)
        var jar = new CookieContainer();
        using var client = new HttpClient(new HttpClientHandler { CookieContainer = jar, AllowAutoRedirect = false }) { Timeout = WebCluster.Timeout };
        var form = await client.GetStringAsync(new Uri(cluster.A.HttpUrl, "/login"));
        using var posted = await client.PostAsync(new Uri(cluster.B.HttpUrl, "/login"), cluster.LoginForm(form));

        Assert.Equal(HttpStatusCode.Redirect, posted.StatusCode);
        Assert.NotNull(jar.GetCookies(cluster.B.HttpUrl)["elemta.admin"]);
    }

    [Fact]
    public void Silos_started_together_keep_one_key_and_write_no_key_files()
    {
        // Both read the empty ring and made a key; the grain (one activation, logging in whichever silo hosts it)
        // stored the first and refused the other, whose silo then read the ring again.
        var lines = (cluster.A.Output + cluster.B.Output).Split('\n');
        foreach (var line in lines.Where(l => l.Contains("Data protection", StringComparison.Ordinal) || l.Contains("DataProtection", StringComparison.Ordinal)))
        {
            // For the record: whether this start raced (a refused key and a retried read) or not.
            output.WriteLine(line);
        }

        Assert.Equal(1, lines.Count(l => l.Contains("Data protection: stored key-", StringComparison.Ordinal)));
        foreach (var silo in new[] { cluster.A, cluster.B })
        {
            Assert.False(Directory.Exists(Path.Combine(silo.DataDirectory, "keys")), $"{silo.DataDirectory}/keys exists");
        }
    }
}
