#!/usr/bin/env bash
# The README's test command: installs what the tests need on a Debian machine, then runs every test with line and
# branch coverage, and prints one closing line and a coverage table per project under src/ (and client/).
#
# The tests talk to real peers on loopback, which they start themselves: swaks (with Net::SSLeay for --tls and
# Digest::HMAC for CRAM-MD5), Debian's python3 (smtplib, email), Dovecot's LMTP server, tzdata (routing rules by hour
# in a named zone), PostgreSQL's server binaries (initdb/pg_ctl run as the postgres user; no service is started),
# openssl (the cluster certificate commands of docs/cluster.md), Chromium (the admin app's browser tests, driven by
# Playwright; no browser is downloaded), Prometheus (promtool checks the alerting rules; the observability tests start
# a server on loopback), python3-spf for the RFC 7208 SPF test suite it ships
# (/usr/share/doc/python3-spf/rfc7208-tests.yml.gz), AFL++ for a bounded fuzzing run of the SMTP protocol core
# after the tests (FUZZ_SECONDS per target, default 20; 0 skips), the content scanners the scanner plugins are
# tested against: rspamd, and clamav-daemon (clamd) with clamav (its tools); the tests start both on loopback with a
# configuration of their own in a temporary folder (as the rspamd/clamav users when run as root) and their own
# signature database (freshclam is never run), postgrey (the greylisting Postfix policy server the policy delegation
# plugin is tested against; the tests start their own on free loopback ports and unix sockets), dkimpy (python3-dkim,
# with python3-nacl for ed25519) and OpenDKIM (the opendkim filter's test mode with TestPublicKeys; opendkim-genkey
# from opendkim-tools) as independent DKIM/ARC implementations, and publicsuffix (the Public Suffix List the shipped copy is checked against).
# As root the missing packages are installed; as another user the exact install line is printed and nothing runs.
# No service is started by the install: Debian's maintainer scripts start what they install (rspamd, clamd,
# freshclam, PostgreSQL, ...) unless /usr/sbin/policy-rc.d forbids it, so one that answers 101 ("action forbidden")
# is put in place for the install and removed after it (an existing one, as in containers, is left alone). The tests
# never use those services.
#
# Usage: tests/run.sh [dotnet test arguments, e.g. --filter ...]      Coverage reports: TestResults/coverage/
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(swaks libnet-ssleay-perl libdigest-hmac-perl python3 dovecot-lmtpd tzdata postgresql openssl afl++ chromium prometheus python3-spf rspamd clamav-daemon clamav python3-dkim python3-nacl publicsuffix postgrey opendkim opendkim-tools)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "tests/run.sh: the tests need these Debian packages; install them, then run this again:" >&2
    echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
    exit 2
  fi
  echo "tests/run.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  policy=/usr/sbin/policy-rc.d
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\n# tests/run.sh: no service starts while the test packages are installed.\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    trap 'rm -f "$policy"' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  if [ "$(trap -p EXIT)" ]; then
    rm -f "$policy"
    trap - EXIT
  fi
  if [[ " ${missing[*]} " == *" postgrey "* ]]; then
    # Where services may start anyway (an existing policy-rc.d allowed it), the package starts postgrey on
    # 127.0.0.1:10023; nothing here needs it running.
    if [ -d /run/systemd/system ]; then
      systemctl disable --now postgrey >/dev/null 2>&1 || true
    elif [ -x /etc/init.d/postgrey ]; then
      /etc/init.d/postgrey stop >/dev/null 2>&1 || true
    fi
  fi
fi
command -v dotnet >/dev/null || { echo "tests/run.sh: the .NET 10 SDK (dotnet) is not on PATH" >&2; exit 2; }

# The Prometheus configuration, alerting rules and their unit tests (deploy/prometheus): a broken rule fails the run.
promtool check config deploy/prometheus/prometheus.yml
promtool check rules deploy/prometheus/rules/*.yml
promtool test rules deploy/prometheus/tests/*.test.yml
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1

results=TestResults/coverage
rm -rf "$results"
log=$(mktemp)
status=0
dotnet test Elemta.sln --collect:"XPlat Code Coverage" --results-directory "$results" "$@" 2>&1 | tee "$log" || status=$?

# Coverage per project, merged over every test assembly that exercised it (a line counts as covered when any test
# run covered it). Silo processes that tests start as separate programs are not instrumented.
/usr/bin/python3 - "$results" <<'PY' || true
import glob, os, re, sys, xml.etree.ElementTree as ET
lines, branches = {}, {}
for report in glob.glob(f"{sys.argv[1]}/**/coverage.cobertura.xml", recursive=True):
    root = ET.parse(report).getroot()
    # File names are relative to the report's source folder, which differs between reports.
    source = next((s.text for s in root.iter("source")), "") or ""
    for package in root.iter("package"):
        name = package.get("name")
        if not name.startswith("Elemta.") or name.endswith(".Tests") or name in ("Elemta.Testing", "Elemta.Fuzz") or name.startswith("Elemta.Bench"):
            continue
        for cls in package.iter("class"):
            path = os.path.normpath(os.path.join(source, cls.get("filename")))
            if "/obj/" in path:
                continue  # source-generated code (JSON contexts, logging, Orleans serializers)
            for line in cls.iter("line"):
                key = (path, int(line.get("number")))
                lines.setdefault(name, {})
                lines[name][key] = max(lines[name].get(key, 0), 1 if int(line.get("hits")) > 0 else 0)
                m = re.search(r"\((\d+)/(\d+)\)", line.get("condition-coverage") or "")
                if m:
                    branches.setdefault(name, {})
                    covered, total = int(m.group(1)), int(m.group(2))
                    old = branches[name].get(key, (0, total))
                    branches[name][key] = (max(old[0], covered), total)
if not lines:
    print("coverage: no reports found"); sys.exit(0)
print()
print("| Project | Lines | Line coverage | Branch coverage |")
print("| --- | ---: | ---: | ---: |")
all_hit = all_total = 0
for name in sorted(lines):
    hit, total = sum(lines[name].values()), len(lines[name])
    b = branches.get(name, {})
    bc, bt = sum(v[0] for v in b.values()), sum(v[1] for v in b.values())
    all_hit += hit; all_total += total
    print(f"| {name} | {total} | {100 * hit / total:.1f} % | {(100 * bc / bt) if bt else 100:.1f} % |")
print(f"| all | {all_total} | {100 * all_hit / all_total:.1f} % | |")
PY

# One closing line for the whole run, summed over the test assemblies.
awk '
  /(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+/ {
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:") { gsub(",", "", $(i+1)); failed += $(i+1) }
      if ($i == "Passed:") { gsub(",", "", $(i+1)); passed += $(i+1) }
      if ($i == "Skipped:") { gsub(",", "", $(i+1)); skipped += $(i+1) }
    }
  }
  END { printf "%d passed, %d failed, %d skipped\n", passed, failed, skipped }
' "$log"
rm -f "$log"

# Coverage-guided fuzzing, bounded: new crashes or hangs fail the run (tests/fuzz/run.sh says where they are kept).
if [ "${FUZZ_SECONDS:-20}" -gt 0 ] && [ $# -eq 0 ]; then
  tests/fuzz/run.sh "${FUZZ_SECONDS:-20}" || status=1
fi
exit "$status"
