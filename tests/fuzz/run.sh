#!/usr/bin/env bash
# Coverage-guided fuzzing of the SMTP protocol core with SharpFuzz and AFL++ (issue 15).
#
# Builds tests/fuzz/Elemta.Fuzz in Release, instruments Elemta.Smtp.dll with the sharpfuzz tool (installed into
# .tools/ on first use), and runs afl-fuzz on each target for SECONDS (default 30), starting from tests/fuzz/corpus/<target>.
# Crashes and hangs are copied to tests/fuzz/findings/<target>/ and make the run fail: replay one with
#   dotnet tests/fuzz/Elemta.Fuzz/bin/Release/net10.0/Elemta.Fuzz.dll <target> --replay tests/fuzz/findings/<target>
# then add it to tests/fuzz/regressions/<target>/ (replayed by the test suite) once it is fixed.
#
# Usage: tests/fuzz/run.sh [seconds] [target ...]        (targets: path dsn header sasl session; default all)
# Needs AFL++ (Debian package afl++; installed here when run as root).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${1:-30}; shift || true
targets=("$@"); [ ${#targets[@]} -eq 0 ] && targets=(path dsn header sasl session)

if ! command -v afl-fuzz >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then echo "tests/fuzz/run.sh: needs AFL++: sudo apt-get install -y afl++" >&2; exit 2; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends afl++ >/dev/null
fi
tools=.tools
[ -x "$tools/sharpfuzz" ] || dotnet tool install SharpFuzz.CommandLine --version 2.3.0 --tool-path "$tools" >/dev/null

out=tests/fuzz/Elemta.Fuzz/bin/Release/net10.0
dotnet build -c Release tests/fuzz/Elemta.Fuzz -nologo -v q >/dev/null
# Instruments in place; a second pass over an instrumented assembly is refused, so rebuild first when it already was.
"$tools/sharpfuzz" "$out/Elemta.Smtp.dll" >/dev/null 2>&1 || { dotnet build -c Release tests/fuzz/Elemta.Fuzz -nologo -v q --no-incremental >/dev/null; "$tools/sharpfuzz" "$out/Elemta.Smtp.dll"; }

export AFL_SKIP_BIN_CHECK=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_QUIET=1
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
failed=0
for target in "${targets[@]}"; do
  # -t: a session that has all its input and has not ended within 10 s is a hang (the target itself waits 10 s).
  afl-fuzz -V "$seconds" -t 20000 -m none -i "tests/fuzz/corpus/$target" -o "$work/$target" -- dotnet "$out/Elemta.Fuzz.dll" "$target" >"$work/$target.log" 2>&1 || true
  stats="$work/$target/default/fuzzer_stats"
  if [ ! -f "$stats" ]; then echo "fuzz $target: afl-fuzz did not run: $(tail -5 "$work/$target.log")" >&2; failed=1; continue; fi
  execs=$(awk -F: '/^execs_done/ {gsub(/ /,"",$2); print $2}' "$stats")
  paths=$(awk -F: '/^corpus_count/ {gsub(/ /,"",$2); print $2}' "$stats")
  crashes=$(find "$work/$target/default/crashes" "$work/$target/default/hangs" -type f -name 'id:*' 2>/dev/null | wc -l)
  echo "fuzz $target: ${seconds}s, $execs executions, $paths inputs in the corpus, $crashes crashes or hangs"
  if [ "$crashes" -gt 0 ]; then
    mkdir -p "tests/fuzz/findings/$target"
    find "$work/$target/default/crashes" "$work/$target/default/hangs" -type f -name 'id:*' -exec cp {} "tests/fuzz/findings/$target/" \;
    failed=1
  fi
done
exit $failed
