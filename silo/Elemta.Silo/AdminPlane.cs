using Elemta.Admin.Authentication;
using Elemta.Admin.Hosting;
using Elemta.Api;
using Elemta.Silo.Observability;
using Elemta.Smtp;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Orleans.Dashboard;
using Scalar.AspNetCore;
using HttpOptions = Elemta.Api.Hosting.HttpOptions;

namespace Elemta.Silo;

/// <summary>
/// The admin plane's HTTP services and endpoints — the REST API, the admin app, the Orleans Dashboard, health, metrics —
/// exactly as both hosts serve them: a silo (<see cref="SiloHost"/>) and the <c>elemta web</c> process
/// (<c>ClientWebHost</c>), an Orleans client. Everything here reaches the cluster through
/// <see cref="IGrainFactory"/>, which both hosts provide.
/// </summary>
internal static class AdminPlane
{
    /// <summary>Adds the REST API and, when <paramref name="admin"/> enables it, the admin app (with the cluster's key ring).</summary>
    public static void AddServices(IServiceCollection services, IConfiguration configuration, AdminOptions admin)
    {
        services.AddElemtaApi(configuration);
        // POST /api/messages takes what SMTP takes: the same maximum size, read from the same key so that an
        // 'elemta web' process (which has no SMTP front-end) agrees with the silos.
        var smtp = configuration.GetSection(SmtpServerOptions.SectionName).Get<SmtpServerOptions>() ?? new SmtpServerOptions();
        services.AddOptions<Elemta.Api.Messages.MessageSubmissionOptions>().Configure(submission => submission.MaxMessageSize = smtp.MaxMessageSize);
        if (admin.Enabled)
        {
            // Data-protection keys in grain storage, one ring for the cluster: a restart keeps everyone signed in, and
            // a sign-in on one silo or 'elemta web' process is valid on every other.
            services.AddElemtaAdmin(configuration);
        }
    }

    /// <summary>The middleware and endpoints, in the order they must run.</summary>
    public static void Map(WebApplication app, AdminOptions admin, HttpOptions http)
    {
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseAuthentication();
        app.UseAuthorization();
        if (admin.Enabled)
        {
            app.UseAntiforgery();
        }

        app.MapElemtaApi();
        if (admin.Enabled)
        {
            app.MapElemtaAdmin();
            if (admin.Dashboard)
            {
                // The dashboard has no authentication of its own: the route group requires the admin app's sign-in.
                app.MapOrleansDashboard("/dashboard").RequireAuthorization(AdminAuthentication.Read);
            }
        }

        app.MapElemtaObservability();
        if (http.Enabled && http.ApiReference)
        {
            app.MapScalarApiReference();
        }
    }

    /// <summary>What the "HTTP listening" line adds after the addresses.</summary>
    public static string Describe(AdminOptions admin, HttpOptions http) =>
        (admin.Enabled ? " (admin app at /" + (admin.Dashboard ? ", Orleans Dashboard at /dashboard" : string.Empty) + ")" : string.Empty)
        + (http.ApiReference ? " (API reference at /scalar)" : string.Empty);
}
