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
# needs root: sync + drop_caches before every walk), SNAP_AFTER (default 5):
# a walk of any side still running after that many seconds (a cold walk takes
# 0.7-3 s here) gets a snapshot of where its threads wait, written to
# target/du-snapshots/ and named in the round's line: each thread's state,
# wchan, kernel stack and context switches, gdb's `thread apply all bt` (if
# gdb is installed), and the CPU (steal, iowait) and disk counters at the
# snapshot and one second later, which tell a wait of the walk (futex, ring)
# from a slow disk or a paused machine. The snapshot's time counts in the
# round's (gdb stops the walk while it reads it). The hogs are real
# competitors: started from this script, they stay in its session, so in its
# autogroup and at its nice value (-20 under the command above), and the
# scheduler shares the CPUs between them and the measured walk thread by
# thread. (Before, each hog ran in its own session at nice 0: a separate
# autogroup, which the scheduler weighs as one task against the benchmark's
# autogroup at -20, so the hogs barely took any CPU from the walk.) Bounded
# by `timeout`, killed at the end of each block and on exit.
# Prints one line per round and the median (min-max) per side and its ratios
# to the plain walk and to diskus; every round goes to stdout. The walks of a
# round must agree on the bytes; a round in which they do not (the tree
# changed) is reported and run again.
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
        # No setsid: the hog shares this script's autogroup and nice value
        # with the measured walks (see the top of the file).
        timeout 900 sh -c 'while :; do :; done' &
        hog_pids+=($!)
    done
    [ "$1" -gt 0 ] && sleep 0.5
    return 0
}

drop() {
    sync
    echo 3 >/proc/sys/vm/drop_caches
}

snap_after=${SNAP_AFTER:-5}
snapdir=target/du-snapshots
# Where the threads of walk $1 (side $2, and its children) wait; prints the file.
snapshot() {
    mkdir -p "$snapdir"
    local f p t
    f=$snapdir/$(date +%Y%m%d-%H%M%S)-$2-$1.txt
    {
        echo "$2 (pid $1) still running after $snap_after s; load $(cat /proc/loadavg)"
        counters() {
            echo "cpu: user nice system idle iowait irq softirq steal (ticks):"
            head -1 /proc/stat
            echo "disks: reads merged sectors ms-reading writes merged sectors ms-writing in-flight ms-busy ...:"
            awk '$4 + $8 > 0 && $3 !~ /^(loop|ram)/' /proc/diskstats
        }
        counters
        for p in "$1" $(pgrep -P "$1" || true); do
            for t in /proc/"$p"/task/*; do
                echo "-- $(cat "$t/comm") tid ${t##*/} state $(cut -d' ' -f3 "$t/stat") wchan $(cat "$t/wchan")"
                cat "$t/stack"
                grep ctxt "$t/status"
            done
            # (Not the shell that started the walk.)
            if command -v gdb >/dev/null && [ "$(cat "/proc/$p/comm")" != bash ]; then
                timeout 60 gdb -p "$p" -batch -ex 'thread apply all bt'
            fi
        done
        sleep 1
        echo "one second later:"
        counters
    } >"$f" 2>&1
    echo "$f"
}

results=$(mktemp "${TMPDIR:-/tmp}/du-contention.XXXXXX")
echo "machine: $(nproc) CPUs, $(uname -r), path $path, rounds $rounds, load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "autogroup $(cat /proc/self/autogroup), nice $(nice); diskus: ${diskus:-NOT INSTALLED (column skipped)}"
bytes=""
for cache in $caches; do
    for hogs in $hogs_list; do
        start_hogs "$hogs"
        [ "$cache" = hot ] && for s in "${sides[@]}"; do run_side "$s" >/dev/null; done
        for r in $(seq "$rounds"); do
            # Every walk of a round must count the same bytes. Another
            # session installing packages changes /usr between (or during)
            # walks: such a round is printed, marked and run again (3 tries).
            for try in 1 2 3; do
                # Rotate the order every round: no side always goes first.
                n=${#sides[@]}
                line="$cache hogs=$hogs round $r:"
                rows=""
                round_bytes=""
                ok=1
                for k in $(seq 0 $((n - 1))); do
                    s=${sides[$(((k + r - 1) % n))]}
                    [ "$cache" = cold ] && drop
                    t0=$(date +%s%N)
                    run_side "$s" >"$results.out" &
                    walk=$!
                    (
                        # Killed while it naps (the walk ended); once the
                        # nap is over, a snapshot is finished, not cut short
                        # (not by errexit either: the walk may end meanwhile).
                        set +e
                        trap 'kill "$nap" 2>/dev/null; exit 0' TERM
                        sleep "$snap_after" &
                        nap=$!
                        wait "$nap"
                        trap '' TERM
                        if kill -0 "$walk" 2>/dev/null; then
                            snapshot "$walk" "$s" >"$results.snap"
                        fi
                    ) &
                    dog=$!
                    wait "$walk"
                    t1=$(date +%s%N)
                    kill "$dog" 2>/dev/null || true
                    wait "$dog" || true
                    out=$(cat "$results.out")
                    b=$(echo "$out" | head -1 | cut -f1 | cut -d' ' -f1)
                    if [ -z "$round_bytes" ]; then round_bytes=$b; fi
                    [ "$b" != "$round_bytes" ] && ok=0
                    secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
                    rows="$rows$cache $hogs $r $s $secs"$'\n'
                    line="$line $s=$secs($b)"
                    if [ -s "$results.snap" ]; then
                        line="$line [snapshot $(cat "$results.snap")]"
                        rm -f "$results.snap"
                    fi
                done
                if [ $ok = 1 ]; then break; fi
                echo "$line  MISMATCH: the tree changed during the round, run again" >&2
                if [ "$try" = 3 ]; then exit 1; fi
            done
            if [ "$round_bytes" != "$bytes" ]; then
                [ -n "$bytes" ] && echo "note: the tree now holds $round_bytes bytes (was $bytes)"
                bytes=$round_bytes
            fi
            printf '%s' "$rows" >>"$results"
            echo "${line//($round_bytes)/}  load $(cut -d' ' -f1 /proc/loadavg)"
        done
        stop_hogs
    done
done

echo
echo "medians (min-max) in s; xR: the median of the per-round ratios to plain,"
echo "/dR: to diskus; for syslets also plain/syslets of every round:"
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
                function med(a, n) { return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2 }
                $1 == c && $2 == h && $4 == s { t[$3] = $5 }
                $1 == c && $2 == h && $4 == "plain" { p[$3] = $5 }
                $1 == c && $2 == h && $4 == "diskus" { d[$3] = $5 }
                END {
                    n = 0; nd = 0; up = ""
                    for (r = 1; r in t; r++) {
                        n++; v[n] = t[r]; q[n] = t[r] / p[r]
                        if (r in d) { nd++; w[nd] = t[r] / d[r] }
                        up = up sprintf(" %.2f", p[r] / t[r])
                    }
                    isort(v, n); isort(q, n); isort(w, nd)
                    printf "%.3f (%.3f-%.3f) x%.2f", med(v, n), v[1], v[n], med(q, n)
                    if (nd > 0) printf " /d%.2f", med(w, nd)
                    if (s == "syslets") printf " [plain/syslets:%s]", up
                }' "$results")
            line="$line  $s $stats"
        done
        echo "$line"
    done
done
echo "bytes $bytes; load at the end $(cut -d' ' -f1-3 /proc/loadavg)"
rm -f "$results" "$results.out" "$results.snap"
