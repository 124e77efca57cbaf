using Elemta.Client;

namespace Elemta.Silo.Cli;

/// <summary>The exit codes of <c>elemta</c> (docs/cli.md lists them; scripts depend on them, so they never change meaning).</summary>
internal static class ExitCodes
{
    public const int Ok = 0;
    public const int Failed = 1;
    public const int Usage = 2;
    public const int NotFound = 3;
    public const int Unreachable = 4;
    public const int Unauthorized = 5;
    public const int Conflict = 6;

    /// <summary><c>db status</c>: the database answers but schema migrations are pending.</summary>
    public const int Pending = 7;

    public static int For(ElemtaErrorKind kind) => kind switch
    {
        ElemtaErrorKind.NotFound => NotFound,
        ElemtaErrorKind.Unreachable => Unreachable,
        ElemtaErrorKind.Unauthorized => Unauthorized,
        ElemtaErrorKind.Conflict => Conflict,
        ElemtaErrorKind.Invalid => Usage,
        _ => Failed,
    };
}

/// <summary>sendmail's exit codes (sysexits.h), which cron, PHP's mail() and scripts read.</summary>
internal static class SysExits
{
    public const int Ok = 0;
    public const int Usage = 64;
    public const int DataError = 65;
    public const int NoUser = 67;
    public const int Unavailable = 69;
    public const int Software = 70;
    public const int TempFail = 75;
}
