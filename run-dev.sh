#!/bin/sh
# Runs Elemta from the source tree in development mode (--dev): SMTP on port 2525, or the first free of 2526-2528,
# state in ./data of the repository, debug logs. Arguments are passed on, e.g. ./run-dev.sh --no-auth-required.
cd "$(dirname "$0")" || exit 1
exec dotnet run --project silo/Elemta.Silo -- --dev "$@"
