using System.Data.Common;

namespace Elemta.Storage.Relational;

/// <summary>Parameter binding that reads the same on either driver's commands.</summary>
internal static class DbCommandExtensions
{
    /// <summary>Adds a parameter named <paramref name="name"/> (with its <c>@</c>); null is bound as SQL NULL.</summary>
    public static TCommand Bind<TCommand>(this TCommand command, string name, object? value)
        where TCommand : DbCommand
    {
        var parameter = command.CreateParameter();
        parameter.ParameterName = name;
        parameter.Value = value ?? DBNull.Value;
        command.Parameters.Add(parameter);
        return command;
    }

    /// <summary>The first column of every row, as strings.</summary>
    public static async Task<IReadOnlyList<string>> ReadStringsAsync(this DbCommand command, CancellationToken cancellationToken)
    {
        var list = new List<string>();
        await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
        while (await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
        {
            list.Add(reader.GetString(0));
        }

        return list;
    }
}
