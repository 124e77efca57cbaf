#!/usr/bin/env bash
# Durable acceptance throughput of one Elemta silo on the embedded default (SQLite, fsync'd before 250):
# Postfix's smtp-source with 20 concurrent sessions and 1 KiB messages, delivered onward to Postfix's smtp-sink.
# Usage: bench/acceptance.sh [messages] [sessions]   (defaults 10000 and 20). Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-10000}
sessions=${2:-20}

if ! command -v smtp-source >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi

dotnet build -c Release silo/Elemta.Silo -nologo -v q >/dev/null
work=$(mktemp -d)
smtp_port=$((20000 + RANDOM % 10000)); # below the ephemeral range
 sink_port=$((smtp_port + 1)); gw=$((smtp_port + 2)); silo=$((smtp_port + 3))
cleanup() { kill "$silo_pid" "$sink_pid" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

smtp-sink -u nobody "127.0.0.1:$sink_port" 1000 >/dev/null 2>&1 & sink_pid=$!
dotnet silo/Elemta.Silo/bin/Release/net10.0/elemta.dll --port "$smtp_port" --data "$work/data" \
  --Elemta:Smtp:ListenAddresses:0=127.0.0.1 --Elemta:Http:Enabled=false --Elemta:Cluster:GatewayPort=$gw --Elemta:Cluster:SiloPort=$silo \
  --Elemta:Delivery:Routes:example.net=127.0.0.1:$sink_port --Logging:LogLevel:Default=Warning \
  --Elemta:RateLimit:ConnectionsPerIp:Capacity=100000 --Elemta:Smtp:MaxConnectionsPerIp=100000 ${ELEMTA_BENCH_ARGS:-} > "$work/silo.log" 2>&1 & silo_pid=$!
for _ in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/$smtp_port) 2>/dev/null && break; sleep 0.5; done

peak_rss() { awk '/VmHWM/ {print $2}' "/proc/$silo_pid/status"; }
start=$(date +%s.%N)
smtp-source -s "$sessions" -l 1024 -m "$messages" -c -f bench@example.org -t rcpt@example.net "127.0.0.1:$smtp_port" >/dev/null
end=$(date +%s.%N)
awk -v m="$messages" -v s="$start" -v e="$end" -v rss="$(peak_rss)" -v c="$sessions" \
  'BEGIN { t = e - s; printf "acceptance: %d messages, %d sessions, %.2f s, %.0f msg/s, silo peak RSS %.0f MB\n", m, c, t, m / t, rss / 1024 }'
echo "silo errors logged: $(grep -c -E '(fail|crit):' "$work/silo.log" || true)"
