#!/usr/bin/env bash
# One silo on PostgreSQL against one on SQLite, and three silos on PostgreSQL, on this machine (issue 11). Not a CI test.
#
# Configurations, alternating in every run, each started fresh (new data folders, new database):
#   sqlite1  one silo on the embedded default (SQLite, fsync'd commit before 250), started as bench/postfix-vs-elemta.sh
#            starts Elemta;
#   pg1      one silo with Elemta:Storage:Provider=PostgreSQL on a fresh database;
#   pg3      three silos (one cluster id, their own SMTP, silo and gateway ports and data folders) on one fresh
#            database; the load is split evenly, one smtp-source per silo, each with 7 sessions (21 in all, against 20
#            for the single silo) and a third of the messages.
# Every silo relays to Postfix's smtp-sink on loopback; the load comes from Postfix's smtp-source (the Debian postfix
# package is installed for both; Postfix itself is not started). After a warm-up of WARMUP messages (default 2,000,
# relayed completely, split across the silos like the timed load) the script times SMALL messages (default 10,000 ×
# 1 KiB): acceptance is the time until smtp-source has exited (for pg3, all three), relay the time until the sink has
# every message. Each figure is the median of RUNS runs (default 3).
#
# PostgreSQL: one server for the whole script (/usr/lib/postgresql/15/bin, the Debian package), initdb'd into a
# temporary folder and listening on a free loopback port, with the default durability settings: fsync on,
# synchronous_commit on, full_page_writes on, as SQLite's commit is fsync'd before the 250. Only max_connections is
# raised (200: three silos hold up to 3 × (20 + 10) pooled connections). A database is created for each run and dropped
# after it; the server and its folder are removed on exit.
#
# Usage: bench/postgres-vs-sqlite.sh (as root)      Output: a TSV line per run on stdout, a table of medians on stdout
# and in bench/results/postgres-vs-sqlite.{json,md}.   Knobs: RUNS, SMALL, WARMUP; START_TIMEOUT (seconds a silo may
# take to listen, default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${RUNS:-3}
small=${SMALL:-10000}
warmup=${WARMUP:-2000}
start_timeout=${START_TIMEOUT:-60}
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
export DEBIAN_FRONTEND=noninteractive

if ! command -v smtp-source >/dev/null || ! command -v smtp-sink >/dev/null; then
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  apt-get install -y -qq --no-install-recommends postfix >/dev/null
fi
if [ ! -x "$pg_bin/initdb" ]; then
  apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

dotnet build -c Release silo/Elemta.Silo -nologo -v q >/dev/null
silo_dll=silo/Elemta.Silo/bin/Release/net10.0/elemta.dll
work=$(mktemp -d); chmod 755 "$work"
results="$work/results.tsv"; : > "$results"

# Ports below the ephemeral range (so no outgoing connection holds one), each handed out once and checked free.
next_port=$((20000 + RANDOM % 8000))
free_port() { # sets $port
  while :; do
    next_port=$((next_port + 1))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$next_port") 2>/dev/null; then port=$next_port; return; fi
  done
}
free_port; sink_port=$port
free_port; pg_port=$port
declare -a smtp_ports gw_ports silo_ports
for i in 0 1 2; do
  free_port; smtp_ports[i]=$port; free_port; gw_ports[i]=$port; free_port; silo_ports[i]=$port
done

pg_dir="$work/pg"
sink_pid=""; silo_pids=(); pg_started=""
stop_silos() { # TERM to every silo, KILL to any still running 30 s later
  local p killer
  [ "${#silo_pids[@]}" -gt 0 ] || return 0
  kill "${silo_pids[@]}" 2>/dev/null || true
  (for _ in $(seq 1 150); do sleep 0.2; done; kill -9 "${silo_pids[@]}" 2>/dev/null) & killer=$!
  for p in "${silo_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  kill "$killer" 2>/dev/null || true; wait "$killer" 2>/dev/null || true
  silo_pids=()
}
cleanup() {
  stop_silos
  [ -n "$sink_pid" ] && { kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; }
  [ -n "$pg_started" ] && runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -m fast -w stop >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The PostgreSQL server (it refuses to run as root: the cluster belongs to the postgres user).
mkdir -p "$pg_dir"; chown postgres "$pg_dir"
runuser -u postgres -- "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres -E UTF8 --locale=C >"$pg_dir/initdb.log" 2>&1 \
  || { echo "initdb failed: $(tail -5 "$pg_dir/initdb.log")" >&2; exit 1; }
pg_started=1
runuser -u postgres -- "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/server.log" -w -t 60 \
  -o "-p $pg_port -k $pg_dir -c listen_addresses=127.0.0.1 -c max_connections=200" start >/dev/null \
  || { echo "PostgreSQL did not start: $(tail -5 "$pg_dir/server.log")" >&2; exit 1; }
psql_admin() { "$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d postgres -qAtX -v ON_ERROR_STOP=1 -c "$1"; }
psql_admin "SHOW fsync" | grep -qx on && psql_admin "SHOW synchronous_commit" | grep -qx on \
  || { echo "PostgreSQL is not on fsync + synchronous_commit" >&2; exit 1; }

start_sink() {
  rm -rf "$work/sink"; mkdir -p "$work/sink"; chmod 777 "$work/sink"
  smtp-sink -u nobody -d "$work/sink/%M." "127.0.0.1:$sink_port" 1000 >/dev/null 2>&1 & sink_pid=$!
  for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$sink_port") 2>/dev/null && return 0; sleep 0.1; done
  echo "smtp-sink did not start on port $sink_port" >&2; exit 1
}
stop_sink() { kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; sink_pid=""; }
received() { find "$work/sink" -type f | wc -l; } # one dump file per message (one recipient each)

start_silo() { # $1 = index (0-2), $2 = database name or "" for the embedded default
  local i=$1 db=$2 data="$work/data$1"
  local -a storage=()
  if [ -n "$db" ]; then
    storage=(--Elemta:Storage:Provider=PostgreSQL
      "--Elemta:Storage:ConnectionString=Host=127.0.0.1;Port=$pg_port;Username=postgres;Database=$db"
      --Elemta:Cluster:AdvertisedAddress=127.0.0.1 "--Elemta:Cluster:ClusterId=$db")
  fi
  # Made here: on PostgreSQL nothing else creates the data folder, and the silo writes its initial admin password there.
  rm -rf "$data"; mkdir -p "$data"
  dotnet "$silo_dll" --port "${smtp_ports[i]}" --data "$data" \
    --Elemta:Smtp:ListenAddresses:0=127.0.0.1 --Elemta:Http:Enabled=false --Elemta:Cluster:GatewayPort="${gw_ports[i]}" \
    --Elemta:Cluster:SiloPort="${silo_ports[i]}" --Elemta:Delivery:Routes:example.net=127.0.0.1:$sink_port \
    --Logging:LogLevel:Default=Warning --Elemta:Smtp:MaxMessageSize=209715200 --Elemta:Smtp:MaxRecipients=1000 \
    --Elemta:RateLimit:ConnectionsPerIp:Capacity=100000 --Elemta:Smtp:MaxConnectionsPerIp=100000 \
    "${storage[@]}" > "$work/silo$i.log" 2>&1 & silo_pids[i]=$!
}
wait_for_silo() { # $1 = index, $2 = configuration; up to START_TIMEOUT seconds from the silo's start
  local i=$1 deadline=$((silo_started + start_timeout))
  until (exec 3<>"/dev/tcp/127.0.0.1/${smtp_ports[i]}") 2>/dev/null; do
    if ! kill -0 "${silo_pids[i]}" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; then
      echo "$2: silo $i did not listen on port ${smtp_ports[i]} within ${start_timeout} s; its log ends:" >&2
      tail -20 "$work/silo$i.log" >&2; exit 1
    fi
    sleep 0.25
  done
}

# The silos of a PostgreSQL configuration are one cluster: as many Active (3) rows in Orleans' membership table as silos.
check_cluster() { # $1 = database (also the cluster id), $2 = silos
  local active=0
  for _ in $(seq 1 60); do
    active=$("$pg_bin/psql" -h 127.0.0.1 -p "$pg_port" -U postgres -d "$1" -qAtX -c \
      "SELECT count(*) FROM OrleansMembershipTable WHERE DeploymentId = '$1' AND Status = 3" 2>/dev/null || echo 0)
    [ "$active" = "$2" ] && return 0
    sleep 0.5
  done
  echo "$config: $active active silos in the membership table, expected $2" >&2
}

# Sends $1 messages split over the configuration's silos, smtp-source processes in parallel; returns 1 if any failed.
generate() { # $1 = messages, $2 = silos
  local n=$1 silos=$2 sessions=$(( $2 == 1 ? 20 : 7 )) i count fail=0
  local -a pids=()
  for i in $(seq 0 $((silos - 1))); do
    count=$((n / silos + (i < n % silos ? 1 : 0)))
    [ "$count" -gt 0 ] || continue
    smtp-source -s "$sessions" -l 1024 -m "$count" -f bench@example.org -t rcpt@example.net \
      "127.0.0.1:${smtp_ports[i]}" >/dev/null & pids+=($!)
  done
  for i in "${pids[@]}"; do wait "$i" || fail=1; done
  return $fail
}

wait_for_sink() { # $1 = messages expected in total; returns 1 after 600 s
  local deadline=$((SECONDS + 600))
  while [ "$(received)" -lt "$1" ]; do
    [ "$SECONDS" -gt "$deadline" ] && { echo "$config: the sink has $(received) of $1 messages after 600 s" >&2; return 1; }
    sleep 0.2
  done
}

run_once() { # $1 = sqlite1 | pg1 | pg3, $2 = run number
  config=$1
  local silos=1 db="" i
  case "$config" in pg1) db="bench_pg1_$2_$$";; pg3) db="bench_pg3_$2_$$"; silos=3;; esac
  [ -n "$db" ] && psql_admin "CREATE DATABASE $db TEMPLATE template0"
  start_sink
  local t0=$SECONDS; silo_started=$SECONDS
  for i in $(seq 0 $((silos - 1))); do start_silo "$i" "$db"; done
  for i in $(seq 0 $((silos - 1))); do wait_for_silo "$i" "$config"; done
  local startup=$((SECONDS - t0))
  generate "$warmup" "$silos" || echo "$config: smtp-source reported errors in the warm-up" >&2
  wait_for_sink "$warmup" || true
  [ -n "$db" ] && check_cluster "$db" "$silos"
  local base; base=$(received)
  local expected=$((base + small)) start accepted delivered ok=1
  start=$(date +%s.%N)
  generate "$small" "$silos" || echo "$config: smtp-source reported errors" >&2
  accepted=$(date +%s.%N)
  wait_for_sink "$expected" || ok=0
  delivered=$(date +%s.%N)
  sleep 1 # duplicates (a message relayed twice) would arrive after the count was reached
  local got; got=$(received)
  [ "$got" -gt "$expected" ] && echo "$config: the sink has $got messages, $((got - expected)) more than were sent" >&2
  stop_silos; stop_sink
  for i in $(seq 0 $((silos - 1))); do # errors a silo logged (the log level is Warning), for the record
    local errors; errors=$(grep -cE ' (fail|crit): ' "$work/silo$i.log" || true)
    [ "$errors" -gt 0 ] && echo "$config: silo $i logged $errors errors, the first: $(grep -m1 -E ' (fail|crit): ' "$work/silo$i.log")" >&2
  done
  [ -n "$db" ] && psql_admin "DROP DATABASE $db WITH (FORCE)"
  if [ "$ok" = 1 ]; then
    awk -v c="$config" -v r="$2" -v m="$small" -v s="$start" -v a="$accepted" -v d="$delivered" -v up="$startup" \
      'BEGIN { printf "%s\t%s\t%.1f\t%.1f\t%d\n", c, r, m / (a - s), m / (d - s), up }' | tee -a "$results"
  else
    printf '%s\t%s\tlost\tlost\t%d\n' "$config" "$2" "$startup"
  fi
}

echo "config	run	accept_msg_s	relay_msg_s	startup_s"
for r in $(seq 1 "$runs"); do
  for config in sqlite1 pg1 pg3; do run_once "$config" "$r"; done
done

mkdir -p bench/results
/usr/bin/python3 - "$results" "$runs" "$warmup" "$small" "$("$pg_bin/postgres" --version)" <<'PY'
import json, statistics, sys, datetime, os
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1]) if l.strip()]
runs, warmup, small, pg_version = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
by = {}
for config, run, acc, rel, up in rows:
    by.setdefault(config, []).append((float(acc), float(rel), float(up)))
def med(c, i): return statistics.median(v[i] for v in by[c]) if c in by else None
labels = {"sqlite1": "1 silo, SQLite (embedded default)", "pg1": "1 silo, PostgreSQL", "pg3": "3 silos, PostgreSQL"}
base_a, base_r = med("sqlite1", 0), med("sqlite1", 1)
out = {"date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"), "runs": runs,
       "warmup": warmup, "messages": small, "message_size": 1024, "cpus": os.cpu_count(), "postgres": pg_version,
       "configurations": [], "raw": rows}
lines = ["| Configuration | Acceptance (msg/s) | Relay (msg/s) | Acceptance / sqlite1 | Relay / sqlite1 | Runs | Start-up (s) |",
         "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
for c in ("sqlite1", "pg1", "pg3"):
    if c not in by:
        lines.append(f"| {labels[c]} | – | – | – | – | 0 | – |"); continue
    a, r, up = med(c, 0), med(c, 1), med(c, 2)
    ra = a / base_a if base_a else None
    rr = r / base_r if base_r else None
    out["configurations"].append({"config": c, "label": labels[c], "accept_msg_s": a, "relay_msg_s": r,
                                  "accept_ratio": ra, "relay_ratio": rr, "runs": len(by[c]), "startup_s": up})
    f = lambda x: "–" if x is None else f"{x:.2f}"
    lines.append(f"| {labels[c]} | {a:.0f} | {r:.0f} | {f(ra)} | {f(rr)} | {len(by[c])} | {up:.0f} |")
md = "\n".join(lines)
print(); print(md)
json.dump(out, open("bench/results/postgres-vs-sqlite.json", "w"), indent=2)
open("bench/results/postgres-vs-sqlite.md", "w").write(
    f"# PostgreSQL vs SQLite ({out['date']}, medians of {runs}, {out['cpus']} CPUs, {small} × 1 KiB after a warm-up of "
    f"{warmup}, {pg_version})\n\n{md}\n")
PY
