#!/usr/bin/env bash
# Side-by-side benchmark of Elemta against Postfix on this machine (issue 7). Not a CI test.
#
# Both MTAs relay everything to Postfix's smtp-sink on loopback; the load comes from Postfix's smtp-source. Postfix is
# the Debian package, configured by this script (its /etc/postfix/main.cf is written here and restored afterwards),
# concurrency 20 to the sink, no rate limits; Elemta is one silo on the embedded default (SQLite, fsync'd commit
# before 250, as Postfix fsyncs its queue file). Runs alternate Postfix / Elemta, and each figure is the median of
# RUNS (default 3) runs.
#
# Scenarios: acceptance and relay end to end (10,000 × 1 KiB, 20 sessions: time to the last 250, and time until the
# sink has every message), large messages (2,000 × 100 KiB), fan-out (2,000 messages × 10 recipients; smtp-source
# generates all recipients in one domain). The deep-queue scenario is bench/Elemta.Bench.DeepQueue (Elemta only).
#
# Usage: bench/postfix-vs-elemta.sh [runs]        Output: a table on stdout, bench/results/postfix-vs-elemta.{json,md}
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-${RUNS:-3}}
export DEBIAN_FRONTEND=noninteractive

if ! command -v smtp-source >/dev/null || ! command -v postfix >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi

dotnet build -c Release silo/Elemta.Silo -nologo -v q >/dev/null
work=$(mktemp -d); chmod 755 "$work"
results="$work/results.tsv"; : > "$results"
sink_port=2599; postfix_port=2525
elemta_port=$((30000 + RANDOM % 10000)); gw=$((elemta_port + 1)); silo_port=$((elemta_port + 2))

main_cf=/etc/postfix/main.cf
[ -f "$main_cf" ] && cp "$main_cf" "$work/main.cf.saved"
cp /etc/postfix/master.cf "$work/master.cf.saved"
sink_pid=""; silo_pid=""
cleanup() {
  postfix stop >/dev/null 2>&1 || true
  [ -n "$sink_pid" ] && kill "$sink_pid" 2>/dev/null || true
  [ -n "$silo_pid" ] && kill "$silo_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -f "$work/main.cf.saved" ]; then cp "$work/main.cf.saved" "$main_cf"; else rm -f "$main_cf"; fi
  cp "$work/master.cf.saved" /etc/postfix/master.cf
  rm -rf "$work"
}
trap cleanup EXIT

# Postfix: relay everything to the sink, loopback only, no DNS, no TLS, no limits, concurrency 20.
: > "$main_cf"
postconf -e "compatibility_level=3.6" "myhostname=postfix.bench.test" "mydestination=" "inet_interfaces=127.0.0.1" \
  "inet_protocols=ipv4" "mynetworks=127.0.0.0/8" "relayhost=[127.0.0.1]:$sink_port" "smtp_dns_support_level=disabled" \
  "maillog_file=/var/log/postfix-bench.log" "default_destination_concurrency_limit=20" "smtpd_client_connection_rate_limit=0" \
  "smtpd_client_connection_count_limit=0" "default_process_limit=100" "smtp_tls_security_level=none" \
  "smtpd_tls_security_level=none" "alias_maps=" "local_recipient_maps=" "biff=no" "smtputf8_enable=no" \
  "message_size_limit=0" "smtpd_recipient_limit=1000"
postconf -Me "$postfix_port/inet=$postfix_port inet n - n - - smtpd"
postconf -MX smtp/inet 2>/dev/null || true

start_sink() {
  rm -rf "$work/sink"; mkdir -p "$work/sink"; chmod 777 "$work/sink"
  smtp-sink -u nobody -d "$work/sink/%M." "127.0.0.1:$sink_port" 1000 >/dev/null 2>&1 & sink_pid=$!
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$sink_port) 2>/dev/null && break; sleep 0.1; done
}
stop_sink() { kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; sink_pid=""; }

# Recipients the sink has received so far: one dump file per transaction, one X-Rcpt-Args line per recipient in it
# (with one recipient per message, counting files is enough and much cheaper).
received() {
  if [ "$1" = 1 ]; then find "$work/sink" -type f | wc -l
  else find "$work/sink" -type f -print0 | xargs -0 -r cat | grep -c '^X-Rcpt-Args' || true; fi
}

start_mta() { # $1 = postfix|elemta
  if [ "$1" = postfix ]; then
    postsuper -d ALL >/dev/null 2>&1 || true
    postfix start >/dev/null 2>&1 || { echo "postfix did not start: $(tail -3 /var/log/postfix-bench.log 2>/dev/null)" >&2; exit 1; }
    port=$postfix_port
  else
    rm -rf "$work/data"
    dotnet silo/Elemta.Silo/bin/Release/net10.0/Elemta.Silo.dll --port "$elemta_port" --data "$work/data" \
      --Elemta:Smtp:ListenAddresses:0=127.0.0.1 --Elemta:Cluster:GatewayPort=$gw --Elemta:Cluster:SiloPort=$silo_port \
      --Elemta:Delivery:Routes:example.net=127.0.0.1:$sink_port --Logging:LogLevel:Default=Warning \
      --Elemta:Smtp:MaxMessageSize=209715200 --Elemta:Smtp:MaxRecipients=1000 \
      --Elemta:RateLimit:ConnectionsPerIp:Capacity=100000 --Elemta:Smtp:MaxConnectionsPerIp=100000 > "$work/silo.log" 2>&1 & silo_pid=$!
    port=$elemta_port
  fi
  for _ in $(seq 1 240); do (exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && return 0; sleep 0.25; done
  echo "$1 did not start on port $port: $(tail -5 "$work/silo.log" 2>/dev/null)" >&2; exit 1
}
stop_mta() {
  if [ "$1" = postfix ]; then postfix stop >/dev/null 2>&1 || true; sleep 1
  else kill "$silo_pid" 2>/dev/null || true; wait "$silo_pid" 2>/dev/null || true; silo_pid=""; fi
}

# Peak resident memory: the silo's VmHWM, or for Postfix the highest sum of its processes' RSS seen while sampling.
sample_rss() { # $1 = mta; prints KiB
  if [ "$1" = elemta ]; then awk '/VmHWM/ {print $2}' "/proc/$silo_pid/status"
  else ps -e -o rss=,user=,comm= | awk '$2 == "postfix" || $3 == "master" { s += $1 } END { print s + 0 }'; fi
}

run_once() { # $1 = mta, $2 = scenario, $3 = messages, $4 = size, $5 = recipients per message
  local mta=$1 scenario=$2 messages=$3 size=$4 rcpts=$5
  start_sink; start_mta "$mta"
  local expected=$((messages * rcpts)) peak=0 rss
  local start accepted delivered
  start=$(date +%s.%N)
  smtp-source -s 20 -l "$size" -m "$messages" -r "$rcpts" -f bench@example.org -t rcpt@example.net "127.0.0.1:$port" >/dev/null &
  local source_pid=$!
  while kill -0 "$source_pid" 2>/dev/null; do
    rss=$(sample_rss "$mta"); [ "$rss" -gt "$peak" ] && peak=$rss; sleep 0.2
  done
  wait "$source_pid"
  accepted=$(date +%s.%N)
  local deadline=$((SECONDS + 600))
  while [ "$(received "$rcpts")" -lt "$expected" ]; do
    rss=$(sample_rss "$mta"); [ "$rss" -gt "$peak" ] && peak=$rss
    [ "$SECONDS" -gt "$deadline" ] && { echo "$mta $scenario: the sink did not get every recipient in 600 s" >&2; break; }
    sleep 0.2
  done
  delivered=$(date +%s.%N)
  rss=$(sample_rss "$mta"); [ "$rss" -gt "$peak" ] && peak=$rss
  stop_mta "$mta"; stop_sink
  awk -v mta="$mta" -v sc="$scenario" -v m="$messages" -v s="$start" -v a="$accepted" -v d="$delivered" -v rss="$peak" \
    'BEGIN { printf "%s\t%s\t%.1f\t%.1f\t%.0f\n", mta, sc, m / (a - s), m / (d - s), rss / 1024 }' | tee -a "$results"
}

echo "mta	scenario	accept_msg_s	relay_msg_s	peak_rss_mb"
for r in $(seq 1 "$runs"); do
  for mta in postfix elemta; do run_once "$mta" small 10000 1024 1; done
  for mta in postfix elemta; do run_once "$mta" large 2000 102400 1; done
  for mta in postfix elemta; do run_once "$mta" fanout 2000 1024 10; done
done

mkdir -p bench/results
/usr/bin/python3 - "$results" "$runs" <<'PY'
import json, statistics, sys, datetime, os
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
runs = int(sys.argv[2])
med = {}
for mta, sc, acc, rel, rss in rows:
    med.setdefault((mta, sc), []).append((float(acc), float(rel), float(rss)))
def m(mta, sc, i): return statistics.median(v[i] for v in med[(mta, sc)])
figures = [
    ("Acceptance, 10,000 × 1 KiB (msg/s)", "small", 0, 1.5),
    ("Relay end to end, 10,000 × 1 KiB (msg/s)", "small", 1, 1.0),
    ("Large, 2,000 × 100 KiB, relay end to end (msg/s)", "large", 1, 1.0),
    ("Large, 2,000 × 100 KiB, acceptance (msg/s)", "large", 0, None),
    ("Fan-out, 2,000 × 10 recipients, relay end to end (msg/s)", "fanout", 1, None),
    ("Fan-out, 2,000 × 10 recipients, acceptance (msg/s)", "fanout", 0, None),
]
out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "runs": runs,
       "cpus": os.cpu_count(), "figures": [], "raw": rows}
lines = ["| Figure | Postfix | Elemta | Elemta/Postfix | Target | Result |", "| --- | ---: | ---: | ---: | ---: | --- |"]
for name, sc, i, target in figures:
    p, e = m("postfix", sc, i), m("elemta", sc, i)
    ratio = e / p if p else 0
    verdict = "" if target is None else ("PASS" if ratio >= target else "FAIL")
    out["figures"].append({"figure": name, "postfix": p, "elemta": e, "ratio": ratio, "target": target, "result": verdict})
    lines.append(f"| {name} | {p:.0f} | {e:.0f} | {ratio:.2f} | {'' if target is None else f'≥ {target}'} | {verdict} |")
rss_p, rss_e = m("postfix", "small", 2), m("elemta", "small", 2)
out["peak_rss_mb"] = {"postfix": rss_p, "elemta": rss_e, "elemta_target": 400}
lines.append(f"| Peak RSS during scenario 1 (MB) | {rss_p:.0f} | {rss_e:.0f} | | < 400 (Elemta) | {'PASS' if rss_e < 400 else 'FAIL'} |")
md = "\n".join(lines)
print(); print(md)
json.dump(out, open("bench/results/postfix-vs-elemta.json", "w"), indent=2)
open("bench/results/postfix-vs-elemta.md", "w").write(f"# Elemta vs Postfix ({out['date']}, medians of {runs}, {out['cpus']} CPUs)\n\n{md}\n")
PY
