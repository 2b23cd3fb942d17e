#!/usr/bin/env bash
# du under CPU contention: the syslets walk (examples/du.rs, default mode),
# the plain synchronous walk (du --plain), GNU `du -sb` and diskus (if it can
# be installed), interleaved in one run: hot and cold cache, with 0, 1 and 2
# CPU-bound competitor processes that this script starts and kills.
#
#   flock /work/.bench.lock setsid sh -c 'echo -20 > /proc/self/autogroup; \
#       exec nice -n -20 bash benches/du_contention.sh [PATH]'
#
# Environment: ROUNDS (default 5), HOGS ("0 1 2"), CACHES ("hot cold"; cold
# needs root: sync + drop_caches before every walk). The hogs run in their own
# session at normal priority (as a compile by another user would), bounded by
# `timeout`, and are killed at the end of each block and on exit.
# Prints one line per walk and the median (min-max) per side and its ratio to
# the plain walk; every round goes to stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
path=${1:-/usr}
rounds=${ROUNDS:-5}
hogs_list=${HOGS:-0 1 2}
caches=${CACHES:-hot cold}
scratch=target/bench-tools

cargo build --release --example du >/dev/null 2>&1 || cargo build --release --example du
du_ex=target/release/examples/du

diskus=$(command -v diskus || true)
if [ -z "$diskus" ] && [ -x "$scratch/bin/diskus" ]; then
    diskus=$scratch/bin/diskus
fi
if [ -z "$diskus" ]; then
    echo "== installing diskus into $scratch (cargo install)" >&2
    if cargo install diskus --root "$scratch" >"$scratch.diskus.log" 2>&1; then
        diskus=$scratch/bin/diskus
    else
        echo "!!!! diskus could NOT be installed (see $scratch.diskus.log): the diskus column is SKIPPED !!!!" >&2
    fi
fi

sides=(syslets plain gnu)
[ -n "$diskus" ] && sides+=(diskus)

run_side() {
    case $1 in
    syslets) "$du_ex" -q "$path" ;;
    plain) "$du_ex" --plain -q "$path" ;;
    gnu) du -sb "$path" ;;
    diskus) "$diskus" -b --directories included "$path" ;;
    esac
}

hog_pids=()
stop_hogs() {
    for p in "${hog_pids[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${hog_pids[@]}"; do wait "$p" 2>/dev/null || true; done
    hog_pids=()
}
trap stop_hogs EXIT INT TERM
start_hogs() {
    for _ in $(seq "$1"); do
        # Its own session: out of this script's high-priority autogroup.
        setsid timeout 900 sh -c 'while :; do :; done' &
        hog_pids+=($!)
    done
    [ "$1" -gt 0 ] && sleep 0.5
    return 0
}

drop() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

results=$(mktemp "${TMPDIR:-/tmp}/du-contention.XXXXXX")
echo "machine: $(nproc) CPUs, $(uname -r), path $path, rounds $rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
bytes=""
for cache in $caches; do
    for hogs in $hogs_list; do
        start_hogs "$hogs"
        [ "$cache" = hot ] && for s in "${sides[@]}"; do run_side "$s" >/dev/null; done
        for r in $(seq "$rounds"); do
            # Rotate the order every round: no side always goes first.
            n=${#sides[@]}
            line="$cache hogs=$hogs round $r:"
            for k in $(seq 0 $((n - 1))); do
                s=${sides[$(((k + r - 1) % n))]}
                [ "$cache" = cold ] && drop
                t0=$(date +%s%N)
                out=$(run_side "$s")
                t1=$(date +%s%N)
                b=$(echo "$out" | head -1 | cut -f1 | cut -d' ' -f1)
                if [ -z "$bytes" ]; then bytes=$b; fi
                if [ "$b" != "$bytes" ]; then
                    echo "MISMATCH: $s counted $b bytes, first walk $bytes" >&2
                    exit 1
                fi
                secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
                echo "$cache $hogs $r $s $secs" >>"$results"
                line="$line $s=$secs"
            done
            echo "$line  load $(cut -d' ' -f1 /proc/loadavg)"
        done
        stop_hogs
    done
done

echo
echo "medians (min-max) in s, and the median of the per-round ratios to plain:"
for cache in $caches; do
    for hogs in $hogs_list; do
        line="$cache hogs=$hogs:"
        for s in "${sides[@]}"; do
            stats=$(awk -v c="$cache" -v h="$hogs" -v s="$s" '
                function isort(a, n,    i, j, x) {
                    for (i = 2; i <= n; i++) {
                        x = a[i]
                        for (j = i - 1; j >= 1 && a[j] > x; j--) a[j + 1] = a[j]
                        a[j + 1] = x
                    }
                }
                $1 == c && $2 == h && $4 == s { t[$3] = $5 }
                $1 == c && $2 == h && $4 == "plain" { p[$3] = $5 }
                END {
                    n = 0
                    for (r in t) { n++; v[n] = t[r]; q[n] = t[r] / p[r] }
                    isort(v, n); isort(q, n)
                    m = (n % 2) ? v[(n + 1) / 2] : (v[n / 2] + v[n / 2 + 1]) / 2
                    mq = (n % 2) ? q[(n + 1) / 2] : (q[n / 2] + q[n / 2 + 1]) / 2
                    printf "%.3f (%.3f-%.3f) x%.2f", m, v[1], v[n], mq
                }' "$results")
            line="$line  $s $stats"
        done
        echo "$line"
    done
done
echo "bytes $bytes; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$results"
