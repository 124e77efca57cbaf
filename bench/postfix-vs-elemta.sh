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
# sink has every message), large messages (2,000 × 100 KiB), fan-out (2,000 messages × 10 recipients across 5 domains,
# sent by bench/Elemta.Bench.Load because smtp-source puts every recipient in one domain), and latency (5,000 × 1 KiB
# by Elemta.Bench.Load, which reports end-of-DATA → 250 percentiles). The deep-queue scenario is
# bench/Elemta.Bench.DeepQueue (Elemta only).
#
# Fairness: every timed run starts on a freshly started MTA after a warm-up load of the same kind has been relayed
# completely — first JIT_WARMUP messages of 1 KiB (default 10,000), then WARMUP messages of the scenario's kind (default
# 2,000) — so neither Postfix's process start-up nor .NET's JIT is inside the timing. .NET's tiered JIT keeps compiling
# for the first ~10,000 messages of a fresh silo (about 11,700 methods were compiled during a timed run that followed a
# 3,000-message warm-up, and the silo's CPU per message was twice its steady state until ~8,000; see
# docs/performance.md, fifth session), so a 2,000-message warm-up alone timed the JIT as much as the MTA. Postfix's queue
# directories are recreated before each run, because directories
# never shrink and a queue directory once grown by a run slows every later one (see docs/performance.md).
#
# Usage: bench/postfix-vs-elemta.sh [runs]        Output: a table on stdout, bench/results/postfix-vs-elemta.{json,md}
# (SMALL, LARGE, FANOUT, LATENCY, WARMUP and JIT_WARMUP override the message counts, for a quick check of the script itself;
# ELEMTA_ARGS adds settings to Elemta's command line, e.g. ELEMTA_ARGS=--Elemta:Metrics:Enabled=false to measure the
# cost of metrics, and RESULTS names the output files' stem, default postfix-vs-elemta.)
#
# MAILAUTH=1 measures Elemta with inbound mail authentication at work (issue 17's cost bound): a DNS server on
# loopback (Debian's dnsmasq) publishes SPF (pass for 127.0.0.1), DMARC (p=reject) and a DKIM key for the sender's
# domain, every message carries a DKIM-Signature made once per scenario by dkimpy over From, To, Subject and the body,
# Elemta verifies loopback mail as inbound (Elemta:MailAuth:VerifyTrustedClients) through that server with its cache,
# and every scenario's load comes from bench/Elemta.Bench.Load for both MTAs (smtp-source cannot sign). Postfix
# verifies nothing, as in the plain run.
#
# PLUGINS=DIR loads Elemta's plugins from DIR (e.g. a folder with the AddHeader sample built into it), to measure
# their cost.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-${RUNS:-3}}
warmup=${WARMUP:-2000}
jit_warmup=${JIT_WARMUP:-10000}
export DEBIAN_FRONTEND=noninteractive

if ! command -v smtp-source >/dev/null || ! command -v postfix >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi

dotnet build -c Release silo/Elemta.Silo -nologo -v q >/dev/null
dotnet build -c Release bench/Elemta.Bench.Load -nologo -v q >/dev/null
load_dll=bench/Elemta.Bench.Load/bin/Release/net10.0/Elemta.Bench.Load.dll
if [ -n "${PLUGINS:-}" ]; then
  ELEMTA_ARGS="${ELEMTA_ARGS:-} --Elemta:Plugins:Directory=$(realpath "$PLUGINS") --Elemta:Plugins:Watch=false"
fi
work=$(mktemp -d); chmod 755 "$work"
results="$work/results.tsv"; : > "$results"
latencies="$work/latency.tsv"; : > "$latencies"
sink_port=2599; postfix_port=2525
# Below the kernel's ephemeral range (32768-60999 on Debian), where an outgoing connection can hold a port when the
# silo restarts on it (seen: "Address already in use" on the silo port in the middle of a run).
elemta_port=$((20000 + RANDOM % 10000)); gw=$((elemta_port + 1)); silo_port=$((elemta_port + 2))

main_cf=/etc/postfix/main.cf
[ -f "$main_cf" ] && cp "$main_cf" "$work/main.cf.saved"
cp /etc/postfix/master.cf "$work/master.cf.saved"
sink_pid=""; silo_pid=""
cleanup() {
  postfix stop >/dev/null 2>&1 || true
  [ -n "$sink_pid" ] && kill $sink_pid 2>/dev/null || true
  [ -n "$silo_pid" ] && kill "$silo_pid" 2>/dev/null || true
  wait 2>/dev/null || true
  if [ -f "$work/main.cf.saved" ]; then cp "$work/main.cf.saved" "$main_cf"; else rm -f "$main_cf"; fi
  cp "$work/master.cf.saved" /etc/postfix/master.cf
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

dns_pid=""
if [ "${MAILAUTH:-0}" = 1 ]; then
  command -v dnsmasq >/dev/null || apt-get install -y -qq --no-install-recommends dnsmasq-base >/dev/null
  /usr/bin/python3 -c "import dkim" 2>/dev/null || apt-get install -y -qq --no-install-recommends python3-dkim >/dev/null
  dns_port=$((elemta_port + 3))
  dotnet silo/Elemta.Silo/bin/Release/net10.0/elemta.dll dkim keygen example.org s1 --out "$work/dkim.pem" --json > "$work/dkim.json"
  # A TXT record's strings are at most 255 octets (RFC 1035): dnsmasq takes them as a comma-separated list.
  dkim_strings=$(/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1]))["record"]; print(",".join(chr(34)+r[i:i+250]+chr(34) for i in range(0,len(r),250)))' "$work/dkim.json")
  # exec: the background job is dnsmasq itself, so the exit trap stops it (not only a subshell around it).
  eval "exec dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=$dns_port --listen-address=127.0.0.1 --bind-interfaces \
    --local-ttl=3600 --user=root --pid-file= \
    --txt-record=example.org,'v=spf1 ip4:127.0.0.1 -all' --txt-record=bench.localhost,'v=spf1 ip4:127.0.0.1 -all' \
    --txt-record=_dmarc.example.org,'v=DMARC1; p=reject' --txt-record=s1._domainkey.example.org,$dkim_strings" &
  dns_pid=$!
  trap 'kill $dns_pid 2>/dev/null || true; cleanup' EXIT
  ELEMTA_ARGS="${ELEMTA_ARGS:-} --Elemta:MailAuth:VerifyTrustedClients=true --Elemta:Dns:Servers:0=127.0.0.1:$dns_port --Elemta:Dns:Retries=0"
fi
export ELEMTA_ARGS="${ELEMTA_ARGS:-}"

# The DKIM-Signature for a scenario's messages (MAILAUTH=1): dkimpy signs message 0 of the template over From, To,
# Subject and the body, which every message of the scenario shares. $1 = size, $2 = recipients, $3 = domains.
dkim_header() {
  local file="$work/dkim-$1-$2-$3.hdr"
  if [ ! -f "$file" ]; then
    dotnet "$load_dll" --print-content true --size "$1" --recipients "$2" --domains "$3" > "$work/template.eml"
    /usr/bin/python3 - "$work/dkim.pem" "$work/template.eml" "$file" <<'PY'
import dkim, sys
key = open(sys.argv[1], 'rb').read()
msg = open(sys.argv[2], 'rb').read()
sig = dkim.sign(msg, b's1', b'example.org', key, include_headers=[b'from', b'to', b'subject'],
                canonicalize=(b'relaxed', b'relaxed'))
open(sys.argv[3], 'wb').write(sig.replace(b'\r\n', b'\n').replace(b'\n', b'\r\n'))
PY
  fi
  echo "$file"
}

# Postfix: relay everything to the sink, loopback only, no DNS, no TLS, no limits, concurrency 20.
: > "$main_cf"
postconf -e "compatibility_level=3.6" "myhostname=postfix.bench.test" "mydestination=" "inet_interfaces=127.0.0.1" \
  "inet_protocols=ipv4" "mynetworks=127.0.0.0/8" "relayhost=[127.0.0.1]:$sink_port" "smtp_dns_support_level=disabled" \
  "maillog_file=/var/log/postfix-bench.log" "default_destination_concurrency_limit=20" "smtpd_client_connection_rate_limit=0" \
  "smtpd_client_connection_count_limit=0" "default_process_limit=100" "smtp_tls_security_level=none" \
  "smtpd_tls_security_level=none" "alias_maps=" "local_recipient_maps=" "biff=no" "smtputf8_enable=no" \
  "message_size_limit=0" "smtpd_recipient_limit=1000" \
  "transport_maps=inline:{$(for d in 1 2 3 4 5; do printf 'd%s.example.net=smtp:[127.0.0.1]:%s, ' "$d" $((sink_port + d)); done)}"
postconf -Me "$postfix_port/inet=$postfix_port inet n - n - - smtpd"
postconf -MX smtp/inet 2>/dev/null || true

# One sink for example.net and one per fan-out domain (ports sink_port+1 … +5): five domains are five destinations,
# as five providers' MX hosts would be, so neither MTA can put the recipients of different domains in one transaction.
start_sink() {
  rm -rf "$work/sink"; mkdir -p "$work/sink"; chmod 777 "$work/sink"
  sink_pid=""
  for p in $(seq "$sink_port" $((sink_port + 5))); do
    # Each sink dumps into its own folder: the names are a time plus a pseudo-random suffix, and two sinks started in
    # the same second pick the same suffixes, so sharing a folder makes one exit on a name the other took.
    mkdir -p "$work/sink/$p"; chmod 777 "$work/sink/$p"
    smtp-sink -u nobody -d "$work/sink/$p/%M." "127.0.0.1:$p" 1000 >/dev/null 2>&1 & sink_pid="$sink_pid $!"
    for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null && break; sleep 0.1; done
  done
}
stop_sink() { kill $sink_pid 2>/dev/null || true; wait $sink_pid 2>/dev/null || true; sink_pid=""; }

# Recipients the sink has received so far: one dump file per transaction, one X-Rcpt-Args line per recipient in it
# (with one recipient per message, counting files is enough and much cheaper).
received() {
  if [ "$1" = 1 ]; then find "$work/sink" -type f | wc -l
  else find "$work/sink" -type f -print0 | xargs -0 -r cat | grep -c '^X-Rcpt-Args' || true; fi
}

start_mta() { # $1 = postfix|elemta
  if [ "$1" = postfix ]; then
    postsuper -d ALL >/dev/null 2>&1 || true
    # A queue directory keeps the size its busiest moment gave it, and qmgr and cleanup then pay for the empty
    # entries on every scan and insert: start each run with directories as small as a fresh install's.
    for d in incoming active deferred defer bounce trace hold flush corrupt; do
      [ -d "/var/spool/postfix/$d" ] && [ -z "$(ls -A "/var/spool/postfix/$d")" ] && rmdir "/var/spool/postfix/$d"
    done
    postfix post-install create-missing >/dev/null 2>&1
    postfix start >/dev/null 2>&1 || { echo "postfix did not start: $(tail -3 /var/log/postfix-bench.log 2>/dev/null)" >&2; exit 1; }
    port=$postfix_port
  else
    rm -rf "$work/data"
    dotnet silo/Elemta.Silo/bin/Release/net10.0/elemta.dll --port "$elemta_port" --data "$work/data" \
      --Elemta:Smtp:ListenAddresses:0=127.0.0.1 --Elemta:Http:Enabled=false --Elemta:Cluster:GatewayPort=$gw --Elemta:Cluster:SiloPort=$silo_port \
      --Elemta:Delivery:Routes:example.net=127.0.0.1:$sink_port --Logging:LogLevel:Default=Warning \
      $(for d in 1 2 3 4 5; do printf -- '--Elemta:Delivery:Routes:d%s.example.net=127.0.0.1:%s ' "$d" $((sink_port + d)); done) \
      --Elemta:Smtp:MaxMessageSize=209715200 --Elemta:Smtp:MaxRecipients=1000 \
      --Elemta:RateLimit:ConnectionsPerIp:Capacity=100000 --Elemta:Smtp:MaxConnectionsPerIp=100000 ${ELEMTA_ARGS:-} > "$work/silo.log" 2>&1 & silo_pid=$!
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

# Sends $messages with the scenario's generator; prints nothing. $1 = messages, $2 = size, $3 = recipients, $4 = json
generate() {
  if [ "${MAILAUTH:-0}" = 1 ]; then
    local domains; domains=$([ "$3" -ge 5 ] && echo 5 || echo 1)
    dotnet "$load_dll" --port "$port" --sessions 20 --messages "$1" --size "$2" --recipients "$3" \
      --domains "$domains" --prepend "$(dkim_header "$2" "$3" "$domains")" --json "${4:-/dev/null}" >/dev/null
  elif [ "$scenario" = fanout ] || [ "$scenario" = latency ]; then
    dotnet "$load_dll" --port "$port" --sessions 20 --messages "$1" --size "$2" --recipients "$3" \
      --domains "$([ "$3" -ge 5 ] && echo 5 || echo 1)" --json "${4:-/dev/null}" >/dev/null
  else
    smtp-source -s 20 -l "$2" -m "$1" -r "$3" -f bench@example.org -t rcpt@example.net "127.0.0.1:$port" >/dev/null
  fi
}

wait_for_sink() { # $1 = recipients expected in total; returns 1 after 600 s
  local deadline=$((SECONDS + 600))
  while [ "$(received "$rcpts")" -lt "$1" ]; do
    [ -n "${2:-}" ] && { rss=$(sample_rss "$mta"); [ "$rss" -gt "$peak" ] && peak=$rss; }
    [ "$SECONDS" -gt "$deadline" ] && { echo "$mta $scenario: the sink did not get every recipient in 600 s" >&2; return 1; }
    sleep 0.2
  done
}

run_once() { # $1 = mta, $2 = scenario, $3 = messages, $4 = size, $5 = recipients per message
  mta=$1 scenario=$2 rcpts=$5
  local messages=$3 size=$4
  start_sink; start_mta "$mta"
  local warm=$warmup
  # The same 1 KiB single-recipient load for every scenario: the code paths the JIT must settle are the same, and
  # 10,000 large messages would take minutes. Counted as recipients (one each) by received() in every scenario.
  if [ "$jit_warmup" -gt 0 ]; then generate "$jit_warmup" 1024 1; wait_for_sink "$jit_warmup" || true; fi
  generate "$warm" "$size" "$rcpts"
  wait_for_sink $((jit_warmup + warm * rcpts)) || true
  local base; base=$(received "$rcpts")
  local expected=$((base + messages * rcpts)) rss json="$work/load.json"
  peak=0
  local start accepted delivered
  start=$(date +%s.%N)
  generate "$messages" "$size" "$rcpts" "$json" &
  local source_pid=$!
  while kill -0 "$source_pid" 2>/dev/null; do
    rss=$(sample_rss "$mta"); [ "$rss" -gt "$peak" ] && peak=$rss; sleep 0.2
  done
  wait "$source_pid" || echo "$mta $scenario: the generator reported errors" >&2
  accepted=$(date +%s.%N)
  wait_for_sink "$expected" sample || true
  delivered=$(date +%s.%N)
  rss=$(sample_rss "$mta"); [ "$rss" -gt "$peak" ] && peak=$rss
  stop_mta "$mta"; stop_sink
  awk -v mta="$mta" -v sc="$scenario" -v m="$messages" -v s="$start" -v a="$accepted" -v d="$delivered" -v rss="$peak" \
    'BEGIN { printf "%s\t%s\t%.1f\t%.1f\t%.0f\n", mta, sc, m / (a - s), m / (d - s), rss / 1024 }' | tee -a "$results"
  if [ "$scenario" = fanout ] || [ "$scenario" = latency ]; then
    /usr/bin/python3 -c 'import json,sys; j=json.load(open(sys.argv[1])); print("\t".join([sys.argv[2], sys.argv[3], str(j["latency_p50_ms"]), str(j["latency_p90_ms"]), str(j["latency_p99_ms"]), str(j["latency_max_ms"])]))' \
      "$json" "$mta" "$scenario" >> "$latencies"
  fi
}

echo "mta	scenario	accept_msg_s	relay_msg_s	peak_rss_mb"
for r in $(seq 1 "$runs"); do
  for mta in postfix elemta; do run_once "$mta" small "${SMALL:-10000}" 1024 1; done
  for mta in postfix elemta; do run_once "$mta" large "${LARGE:-2000}" 102400 1; done
  for mta in postfix elemta; do run_once "$mta" fanout "${FANOUT:-2000}" 1024 10; done
  for mta in postfix elemta; do run_once "$mta" latency "${LATENCY:-5000}" 1024 1; done
done

mkdir -p bench/results
/usr/bin/python3 - "$results" "$runs" "$latencies" "$warmup" "$jit_warmup" <<'PY'
import json, statistics, sys, datetime, os
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
runs = int(sys.argv[2])
lat = [l.rstrip("\n").split("\t") for l in open(sys.argv[3]) if l.strip()]
med = {}
for mta, sc, acc, rel, rss in rows:
    med.setdefault((mta, sc), []).append((float(acc), float(rel), float(rss)))
def m(mta, sc, i): return statistics.median(v[i] for v in med[(mta, sc)])
figures = [
    ("Acceptance, 10,000 × 1 KiB (msg/s)", "small", 0, 1.5),
    ("Relay end to end, 10,000 × 1 KiB (msg/s)", "small", 1, 1.0),
    ("Large, 2,000 × 100 KiB, relay end to end (msg/s)", "large", 1, 1.0),
    ("Large, 2,000 × 100 KiB, acceptance (msg/s)", "large", 0, None),
    ("Fan-out, 2,000 × 10 recipients in 5 domains, relay end to end (msg/s)", "fanout", 1, None),
    ("Fan-out, 2,000 × 10 recipients in 5 domains, acceptance (msg/s)", "fanout", 0, None),
    ("Latency run, 5,000 × 1 KiB by Elemta.Bench.Load, acceptance (msg/s)", "latency", 0, None),
]
out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "runs": runs,
       "warmup": int(sys.argv[4]), "jit_warmup": int(sys.argv[5]), "cpus": os.cpu_count(), "figures": [], "raw": rows, "raw_latency_ms": lat}
lines = ["| Figure | Postfix | Elemta | Elemta/Postfix | Target | Result |", "| --- | ---: | ---: | ---: | ---: | --- |"]
for name, sc, i, target in figures:
    p, e = m("postfix", sc, i), m("elemta", sc, i)
    ratio = e / p if p else 0
    verdict = "" if target is None else ("PASS" if ratio >= target else "FAIL")
    out["figures"].append({"figure": name, "postfix": p, "elemta": e, "ratio": ratio, "target": target, "result": verdict})
    lines.append(f"| {name} | {p:.0f} | {e:.0f} | {ratio:.2f} | {'' if target is None else f'≥ {target}'} | {verdict} |")
rss_p, rss_e = m("postfix", "small", 2), m("elemta", "small", 2)
out["peak_rss_mb"] = {"postfix": rss_p, "elemta": rss_e, "elemta_target": 400}
out["elemta_args"] = os.environ.get("ELEMTA_ARGS", "")
out["mailauth"] = os.environ.get("MAILAUTH", "0") == "1"
out["plugins"] = os.environ.get("PLUGINS", "")
lines.append(f"| Peak RSS during scenario 1 (MB) | {rss_p:.0f} | {rss_e:.0f} | | < 400 (Elemta) | {'PASS' if rss_e < 400 else 'FAIL'} |")
lmed = {}
for mta, sc, p50, p90, p99, mx in lat:
    lmed.setdefault((mta, sc), []).append((float(p50), float(p90), float(p99), float(mx)))
lines += ["", "End of DATA → 250, medians over the runs of each percentile (ms, lower is better):", "",
          "| Scenario | MTA | p50 | p90 | p99 | max |", "| --- | --- | ---: | ---: | ---: | ---: |"]
out["latency_ms"] = []
for sc, label in (("latency", "1 KiB, 1 recipient"), ("fanout", "1 KiB, 10 recipients in 5 domains")):
    for mta in ("postfix", "elemta"):
        if (mta, sc) not in lmed: continue
        v = [statistics.median(x[i] for x in lmed[(mta, sc)]) for i in range(4)]
        out["latency_ms"].append({"scenario": sc, "mta": mta, "p50": v[0], "p90": v[1], "p99": v[2], "max": v[3]})
        lines.append(f"| {label} | {mta.capitalize()} | {v[0]:.2f} | {v[1]:.2f} | {v[2]:.2f} | {v[3]:.1f} |")
md = "\n".join(lines)
print(); print(md)
stem = os.environ.get("RESULTS", "postfix-vs-elemta")
json.dump(out, open(f"bench/results/{stem}.json", "w"), indent=2)
open(f"bench/results/{stem}.md", "w").write(f"# Elemta vs Postfix ({out['date']}, medians of {runs}, {out['cpus']} CPUs, warm-up {out['jit_warmup']} × 1 KiB then {out['warmup']} messages of each scenario's kind)\n\n{md}\n")
PY
