#!/usr/bin/env bash
# Run every cargo-fuzz target for a bounded time, one after the other, in a
# single process each, and print a summary.
#
#   fuzz/run.sh [SECONDS] [TARGET...]
#
# SECONDS per target (default 60); TARGETs default to `cargo fuzz list`.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
#
# For each target: first the committed regression inputs
# (fuzz/regressions/TARGET/*) are replayed, then libFuzzer runs for SECONDS
# with -max_total_time, reading the committed seeds (fuzz/corpus/TARGET, never
# written) and growing a working corpus in fuzz/work/TARGET (git-ignored).
# Builds use AddressSanitizer (cargo-fuzz's default) and debug assertions.
# A finding is written to fuzz/artifacts/TARGET/ and makes the script exit 1.
# Logs: fuzz/logs/TARGET.log. Chains run by chain_exec live in a scratch
# directory under /dev/shm (or $TMPDIR), removed at the end.
set -euo pipefail

secs=${1:-60}
shift || true
cd "$(dirname "$0")/.."

fuzz=(cargo +nightly fuzz)
if ! "${fuzz[@]}" --version >/dev/null 2>&1; then
    echo "run.sh: needs 'cargo +nightly fuzz' (cargo install cargo-fuzz; rustup toolchain install nightly)" >&2
    exit 2
fi

if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <("${fuzz[@]}" list)
fi

base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
scratch=$(mktemp -d "$base/syslets-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export SYSLETS_FUZZ_SCRATCH=$scratch

mkdir -p fuzz/logs
echo "== building ${#targets[@]} target(s) (ASan, debug assertions)"
"${fuzz[@]}" build -a >fuzz/logs/build.log 2>&1 || {
    tail -30 fuzz/logs/build.log
    exit 2
}

status=0
summary=()
for t in "${targets[@]}"; do
    mkdir -p "fuzz/work/$t" "fuzz/corpus/$t"
    log=fuzz/logs/$t.log
    : >"$log"
    # Committed regression inputs must pass before fuzzing starts.
    regressions=()
    if [ -d "fuzz/regressions/$t" ]; then
        mapfile -t regressions < <(find "fuzz/regressions/$t" -type f | sort)
    fi
    if [ ${#regressions[@]} -gt 0 ]; then
        echo "== $t: replaying ${#regressions[@]} regression input(s)"
        if ! "${fuzz[@]}" run -a "$t" "${regressions[@]}" >>"$log" 2>&1; then
            summary+=("$t: REGRESSION INPUT FAILS (see $log)")
            status=1
            continue
        fi
    fi
    echo "== $t: fuzzing for ${secs}s"
    start=$(date +%s)
    rc=0
    "${fuzz[@]}" run -a "$t" "fuzz/work/$t" "fuzz/corpus/$t" -- \
        -max_total_time="$secs" -timeout=20 -rss_limit_mb=4096 \
        -print_final_stats=1 >>"$log" 2>&1 || rc=$?
    took=$(($(date +%s) - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+' "$log" | tail -1)
    corpus=$(find "fuzz/work/$t" -type f | wc -l)
    if [ "$rc" -eq 0 ]; then
        summary+=("$t: ${took}s, ${execs:-?} execs, ${cov:-cov: ?}, working corpus $corpus, no finding")
    else
        artifact=$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -1 | cut -d' ' -f5)
        summary+=("$t: FINDING after ${took}s (exit $rc): ${artifact:-see $log}")
        status=1
    fi
done

echo
echo "== summary (${secs}s per target)"
printf '%s\n' "${summary[@]}"
exit $status
