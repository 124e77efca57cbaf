#!/usr/bin/env bash
# The first page of GET /api/queue/active on a real silo whose SQLite store holds a large queue (issue 12: < 100 ms
# with 1,000,000 messages, no COUNT(*), no OFFSET): plain, newest first, by priority, filtered by sender, domain and
# recipient, the second page, and the statistics — p50/p99/max of sequential requests over loopback.
#
#   bench/api-first-page.sh [messages=1000000] [requests=50]
#
# The store is filled directly through the database (not SMTP): 1,000,000 messages take about a minute to write and
# about 1.2 GiB of disk in a temporary folder, removed afterwards. Output is also written to
# bench/results/api-first-page-<messages>.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
messages="${1:-1000000}"
requests="${2:-50}"

dotnet build -c Release silo/Elemta.Silo -nologo -v q >/dev/null
dotnet build -c Release bench/Elemta.Bench.ApiFirstPage -nologo -v q >/dev/null
mkdir -p bench/results
dotnet bench/Elemta.Bench.ApiFirstPage/bin/Release/net10.0/Elemta.Bench.ApiFirstPage.dll \
  silo/Elemta.Silo/bin/Release/net10.0/elemta.dll "$messages" "$requests" \
  | tee "bench/results/api-first-page-${messages}.txt"
