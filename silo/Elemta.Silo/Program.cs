using Elemta.Silo.Cli;

return await ElemtaCli.RunAsync(args).ConfigureAwait(false);
