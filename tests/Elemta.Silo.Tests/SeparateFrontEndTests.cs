using System.Text;
using Elemta.Smtp;
using Elemta.Storage;
using Elemta.Storage.Sqlite;
using Elemta.Testing;
using MailKit.Net.Smtp;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using MimeKit;

namespace Elemta.Silo.Tests;

/// <summary>
/// The SMTP front-end does not need the silo in its process: here it runs in the test process as an Orleans
/// client of a silo process, sharing only the database, and the silo delivers what it accepted.
/// </summary>
public sealed class SeparateFrontEndTests
{
    [Fact]
    public async Task A_front_end_running_as_an_Orleans_client_accepts_mail_that_the_silo_delivers()
    {
        await using var sink = SmtpSink.Start();
        using var data = new TempDirectory();
        await using var silo = await SiloProcess.StartAsync(data.Path, new Dictionary<string, string>
        {
            ["Elemta:Delivery:Routes:example.net"] = $"127.0.0.1:{sink.Port}",
        });

        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings { DisableDefaults = true });
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["Elemta:Smtp:Port"] = "0",
            ["Elemta:Smtp:ListenAddresses:0"] = "127.0.0.1",
            ["Elemta:Smtp:HostName"] = "frontend.elemta.test",
        });
        builder.UseOrleansClient(client => client.UseLocalhostClustering(silo.GatewayPort, "elemta", "elemta"));
        builder.Services.AddElemtaStorage(new SqliteDatabase(SqliteDatabase.ConnectionStringFor(Path.Combine(data.Path, "elemta.db"))));
        builder.Services.AddElemtaSmtpServer(builder.Configuration);
        using var frontEnd = builder.Build();
        await frontEnd.StartAsync();
        try
        {
            var port = frontEnd.Services.GetRequiredService<Elemta.Smtp.Server.SmtpListener>().EndPoints[0].Port;
            var raw = Encoding.ASCII.GetBytes("From: a@example.org\r\nTo: b@example.net\r\nSubject: via a separate front-end\r\n\r\nhello\r\n");
            using (var client = new SmtpClient())
            {
                await client.ConnectAsync("127.0.0.1", port, MailKit.Security.SecureSocketOptions.None);
                using var message = await MimeMessage.LoadAsync(new MemoryStream(raw));
                await client.SendAsync(message, new MailboxAddress("", "a@example.org"), [new MailboxAddress("", "b@example.net")]);
                await client.DisconnectAsync(true);
            }

            var received = await sink.WaitForMessageAsync(_ => true, TimeSpan.FromSeconds(60));
            var text = Encoding.ASCII.GetString(received.Data);
            Assert.Contains("by frontend.elemta.test (Elemta)", text, StringComparison.Ordinal);
            Assert.Contains("Subject: via a separate front-end\r\n", text, StringComparison.Ordinal);
            Assert.EndsWith("\r\n\r\nhello\r\n", text, StringComparison.Ordinal);
        }
        finally
        {
            await frontEnd.StopAsync();
        }
    }
}
