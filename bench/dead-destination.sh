#!/usr/bin/env bash
# Does a domain whose MX is dead slow delivery to other domains? (issue 4, scale requirement)
# Runs one silo twice with the same load: N messages to good.test interleaved with N to a second domain, which is
# (a) other.test, delivered to a healthy second sink, or (b) dead.test, whose "MX" accepts TCP connections and
# never says a word (the worst kind of dead: every attempt waits for a timeout). Reports the time until the sink
# behind good.test has all N in each run, and the ratio (b)/(a) as throughput. Loopback only.
# Usage: bench/dead-destination.sh [messages]   (default 2000)
set -euo pipefail
cd "$(dirname "$0")/.."
messages=${1:-2000}

if ! command -v smtp-source >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi

dotnet build -c Release silo/Elemta.Silo -nologo -v q >/dev/null
work=$(mktemp -d)
chmod 755 "$work" # smtp-sink drops to nobody and writes its dumps below
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

# A black hole: accepts connections, reads nothing, answers nothing.
blackhole_port=$((20000 + RANDOM % 5000))
/usr/bin/python3 - "$blackhole_port" <<'PY' & pids+=($!)
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(1024)
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY

run() { # $1 = label, $2 = the second domain: other.test (healthy) or dead.test
  local port sink gw siloport
  port=$((26000 + RANDOM % 4000)); sink=$((port + 1)); gw=$((port + 2)); siloport=$((port + 3))
  rm -rf "$work/data" "$work/sink"; mkdir -p "$work/sink"; chmod 777 "$work/sink"
  smtp-sink -u nobody -d "$work/sink/%M." "127.0.0.1:$sink" 1000 >/dev/null 2>&1 & local sink_pid=$!
  local other=$((port + 4))
  smtp-sink -u nobody "127.0.0.1:$other" 1000 >/dev/null 2>&1 & local other_pid=$!
  dotnet silo/Elemta.Silo/bin/Release/net10.0/elemta.dll --port "$port" --data "$work/data" \
    --Elemta:Smtp:ListenAddresses:0=127.0.0.1 --Elemta:Http:Enabled=false --Elemta:Cluster:GatewayPort=$gw --Elemta:Cluster:SiloPort=$siloport \
    --Elemta:Delivery:Routes:good.test=127.0.0.1:$sink --Elemta:Delivery:Routes:dead.test=127.0.0.1:$blackhole_port --Elemta:Delivery:Routes:other.test=127.0.0.1:$other \
    --Elemta:Delivery:CommandTimeout=00:00:30 --Logging:LogLevel:Default=Warning \
    --Elemta:RateLimit:ConnectionsPerIp:Capacity=100000 --Elemta:Smtp:MaxConnectionsPerIp=100000 > "$work/silo.log" 2>&1 & local silo_pid=$!
  for _ in $(seq 1 120); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.5; done
  kill -0 "$sink_pid" 2>/dev/null || { echo "smtp-sink did not start" >&2; exit 1; }
  local start dead_pid=""
  start=$(date +%s.%N)
  smtp-source -s 10 -l 1024 -m "$messages" -f bench@example.org -t "rcpt@$2" "127.0.0.1:$port" >/dev/null & dead_pid=$!
  smtp-source -s 10 -l 1024 -m "$messages" -f bench@example.org -t rcpt@good.test "127.0.0.1:$port" >/dev/null
  while [ "$(find "$work/sink" -type f | wc -l)" -lt "$messages" ]; do sleep 0.1; done
  local end; end=$(date +%s.%N)
  if [ -n "$dead_pid" ]; then wait "$dead_pid" || true; fi
  kill "$silo_pid" "$sink_pid" "$other_pid" 2>/dev/null || true; wait "$silo_pid" "$sink_pid" "$other_pid" 2>/dev/null || true
  awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f\n", e - s }'
}

alone=$(run healthy other.test)
with_dead=$(run dead dead.test)
awk -v a="$alone" -v d="$with_dead" -v m="$messages" 'BEGIN {
  printf "good.test beside a healthy domain: %d messages delivered in %.2f s (%.0f msg/s)\n", m, a, m / a
  printf "good.test beside a black-hole domain: %.2f s (%.0f msg/s); ratio %.2f\n", d, m / d, a / d }'
