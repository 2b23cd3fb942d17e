#!/usr/bin/env bash
# POSIX AIO under fio, side by side in one run: glibc's implementation vs
# LD_PRELOAD=target/release/libsyslets.so (the C library built with --features aio-preload), with
# fio's io_uring engine (and optionally psync) as references.
#
# Cases (fio 4 KiB random reads of a 256 MiB file unless stated):
#   hot-qd1, hot-qd32   page-cached: the file is read once and kept resident
#                       (mlocked by benches/pagelock.c, since other processes
#                       on a shared machine drop caches), --invalidate=0
#   hot-1m-qd8          page-cached, 1 MiB reads, iodepth 8
#   hot-8k-qd8 … hot-256k-qd8   the same with 8, 16, 32, 64, 128 or 256 KiB
#                       reads (not in the default set: for measuring the
#                       inline byte budget, with the engines syslets@N below);
#                       any hot-<N>k-qd<D> is accepted (e.g. hot-64k-qd1)
#   cold-qd1, cold-qd32 buffered and uncached: fio drops the file's pages
#                       (fadvise DONTNEED) when the job starts, and the job
#                       reads each block once (a fixed amount of I/O, not a
#                       time), so every read misses
#   direct-qd1, direct-qd32   --direct=1
#   write-qd32          4 KiB buffered random writes, iodepth 32, to a file
#                       of its own
#
# Each group of cases (hot, cold, direct, write) runs REPS rounds; a round
# runs every case of the group once with every engine, engines interleaved
# (A B C A B C …), so drift and other processes' load hit every side alike.
# The summary gives, per case, each engine's median IOPS with the spread
# (min-max) over the rounds, and the medians and spreads of the per-round
# ratios syslets / glibc and syslets / io_uring.
#
# Environment:
#   RUNTIME     seconds per time-based run (default 5)
#   REPS        rounds (default 5)
#   CASES       subset of the cases above (default: all)
#   ENGINES     default "glibc syslets io_uring"; add psync, or base (the
#               library at BASE_LIB, preloaded like syslets: an A/B run), or
#               syslets@N: the library with SYSLETS_AIO_INLINE_BUDGET=N
#               bytes (N = max: no limit)
#   BASE_LIB    another build of libsyslets.so, for the engine "base"
#   AIO_BENCH_DIR  default target/aio-bench; must be on a disk-backed file
#               system that supports O_DIRECT (not tmpfs)
#
# On a shared machine run it under the benchmark lock, in its own autogroup:
#   flock /work/.bench.lock setsid sh -c \
#     'echo -20 > /proc/self/autogroup; exec nice -n -20 bash benches/aio_fio.sh'
# Needs root for `apt-get install fio` when fio is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME=${RUNTIME:-5}
REPS=${REPS:-5}
DEFAULT_CASES="hot-qd1 hot-qd32 hot-1m-qd8 cold-qd1 cold-qd32 direct-qd1 direct-qd32 write-qd32"
BS_CASES="hot-8k-qd8 hot-16k-qd8 hot-32k-qd8 hot-64k-qd8 hot-128k-qd8 hot-256k-qd8"
ALL_CASES="$DEFAULT_CASES $BS_CASES"
CASES=${CASES:-$DEFAULT_CASES}
ENGINES=${ENGINES:-glibc syslets io_uring}
DIR=${AIO_BENCH_DIR:-$PWD/target/aio-bench}
FILE=$DIR/fio-256m
WFILE=$DIR/fio-write-256m

if ! command -v fio >/dev/null; then
    echo "== installing fio" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq fio >/dev/null
fi
for tool in cc python3 fincore; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
for c in $CASES; do
    [[ " $ALL_CASES " == *" $c "* || $c =~ ^hot-[0-9]+k-qd[0-9]+$ ]] ||
        { echo "unknown case $c" >&2; exit 1; }
done
if [[ " $ENGINES " == *" base "* ]] && [ ! -f "${BASE_LIB:-}" ]; then
    echo "engine base needs BASE_LIB=path/to/libsyslets.so" >&2
    exit 1
fi

echo "== building the aio-preload library (release)" >&2
cargo build --release -p syslets-capi --features aio-preload --quiet
LIB=$PWD/target/release/libsyslets.so
nm -D --defined-only "$LIB" | grep -q ' aio_read$' || { echo "$LIB exports no aio_read" >&2; exit 1; }

mkdir -p "$DIR"
fstype=$(stat -f -c %T "$DIR")
if [ "$fstype" = tmpfs ]; then
    echo "$DIR is on tmpfs: no O_DIRECT, no cold reads; set AIO_BENCH_DIR" >&2
    exit 1
fi
for f in "$FILE" "$WFILE"; do
    if [ "$(stat -c %s "$f" 2>/dev/null || echo 0)" != 268435456 ]; then
        echo "== writing $f (256 MiB)" >&2
        dd if=/dev/urandom of="$f" bs=1M count=256 status=none
        sync
    fi
done
dd if="$FILE" of=/dev/null bs=4k count=1 iflag=direct status=none ||
    { echo "$DIR ($fstype) does not support O_DIRECT" >&2; exit 1; }
cc -O2 -Wall -o "$DIR/pagelock" benches/pagelock.c

RESULTS=$DIR/results.txt
: >"$RESULTS"

# The fio options of a case.
case_args() {
    local base=(--name=aio --filename="$FILE" --size=256m --bs=4k --rw=randread)
    local timed=(--runtime="$RUNTIME" --time_based)
    case $1 in
        hot-qd1) echo "${base[@]} --iodepth=1 --invalidate=0 ${timed[*]}" ;;
        hot-qd32) echo "${base[@]} --iodepth=32 --invalidate=0 ${timed[*]}" ;;
        hot-1m-qd8) echo "${base[@]} --bs=1m --iodepth=8 --invalidate=0 ${timed[*]}" ;;
        hot-*k-qd*)
            local bs=${1#hot-} qd=${1##*-qd}
            echo "${base[@]} --bs=${bs%-qd*} --iodepth=$qd --invalidate=0 ${timed[*]}" ;;
        # One pass over part of the file: each block once, all misses.
        cold-qd1) echo "${base[@]} --iodepth=1 --invalidate=1 --io_size=32m" ;;
        cold-qd32) echo "${base[@]} --iodepth=32 --invalidate=1 --io_size=256m" ;;
        direct-qd1) echo "${base[@]} --iodepth=1 --direct=1 ${timed[*]}" ;;
        direct-qd32) echo "${base[@]} --iodepth=32 --direct=1 ${timed[*]}" ;;
        write-qd32) echo "--name=aio --filename=$WFILE --size=256m --bs=4k --rw=randwrite --iodepth=32 ${timed[*]}" ;;
    esac
}

# run CASE ENGINE: one fio run; appends "case engine iops clat_us cpu%
# disk_ios" to $RESULTS.
run() {
    local case=$1 engine=$2
    local env=() ioengine=posixaio
    case $engine in
        glibc) ;;
        # The banner proves the preload took (checked below).
        syslets) env=(LD_PRELOAD="$LIB" SYSLETS_AIO_BANNER=1) ;;
        base) env=(LD_PRELOAD="$BASE_LIB" SYSLETS_AIO_BANNER=1) ;;
        syslets@max) env=(LD_PRELOAD="$LIB" SYSLETS_AIO_BANNER=1 SYSLETS_AIO_INLINE_BUDGET=18446744073709551615) ;;
        syslets@[0-9]*) env=(LD_PRELOAD="$LIB" SYSLETS_AIO_BANNER=1 SYSLETS_AIO_INLINE_BUDGET="${engine#syslets@}") ;;
        io_uring | psync) ioengine=$engine ;;
        *) echo "unknown engine $engine" >&2; exit 1 ;;
    esac
    # shellcheck disable=SC2046 # case_args is a list of options
    env "${env[@]}" fio $(case_args "$case") --ioengine="$ioengine" \
        --output-format=json --output="$DIR/run.json" >/dev/null 2>"$DIR/run.err" ||
        { cat "$DIR/run.err" >&2; exit 1; }
    if [[ $engine == syslets* ]] || [ "$engine" = base ]; then
        grep -q '^syslets-aio: active$' "$DIR/run.err" ||
            { echo "the preloaded library did not serve fio's AIO" >&2; exit 1; }
    fi
    python3 - "$case" "$engine" "$DIR/run.json" >>"$RESULTS" <<'EOF'
import json, sys
case, engine, path = sys.argv[1:]
job = json.load(open(path))["jobs"][0]
r = job["write"] if case.startswith("write") else job["read"]
# The device's reads and writes during the run: proof that cold reads missed
# and hot ones did not.
disk = json.load(open(path)).get("disk_util") or [{}]
ios = sum(d.get("read_ios", 0) + d.get("write_ios", 0) for d in disk)
print(case, engine, round(r["iops"]), round(r["clat_ns"]["mean"] / 1000, 1),
      round(job["usr_cpu"] + job["sys_cpu"], 1), ios)
EOF
    tail -n1 "$RESULTS" >&2
}

load() { cut -d' ' -f1-3 /proc/loadavg; }

# group NAME CASES...: REPS rounds of every case with every engine.
group() {
    local name=$1
    shift
    local cases=()
    for c in "$@"; do
        [[ " $CASES " == *" $c "* ]] && cases+=("$c")
    done
    [ ${#cases[@]} -gt 0 ] || return 0
    local lock_pid=
    if [ "$name" = hot ]; then
        cat "$FILE" >/dev/null
        coproc LOCK { "$DIR/pagelock" "$FILE"; }
        lock_pid=$LOCK_PID
        read -r _ <&"${LOCK[0]}"
    fi
    echo "== $name: ${cases[*]} (load average $(load); resident $(fincore -n -o RES "$FILE" | tr -d ' '))" >&2
    echo "load $name start $(load)" >>"$RESULTS"
    for _ in $(seq "$REPS"); do
        for c in "${cases[@]}"; do
            for engine in $ENGINES; do
                run "$c" "$engine"
            done
        done
    done
    echo "load $name end $(load)" >>"$RESULTS"
    if [ -n "$lock_pid" ]; then
        eval "exec ${LOCK[1]}>&-"
        wait "$lock_pid"
    fi
}

# shellcheck disable=SC2086 # CASES is a list
group hot hot-qd1 hot-qd32 $BS_CASES hot-1m-qd8 $(printf '%s\n' $CASES | grep -E '^hot-[0-9]+k-qd[0-9]+$' | grep -vxF "$(printf '%s\n' $BS_CASES)" || true)
group cold cold-qd1 cold-qd32
group direct direct-qd1 direct-qd32
group write write-qd32

echo
echo "fio $(fio --version | sed 's/^fio-//'), $(nproc) CPUs, $fstype, ${RUNTIME}s per timed run, $REPS rounds"
echo
python3 - "$RESULTS" "$ENGINES" <<'EOF'
import collections, statistics, sys
rows = collections.defaultdict(list)
loads = []
for line in open(sys.argv[1]):
    f = line.split()
    if f[0] == "load":
        loads.append(" ".join(f[1:]))
        continue
    case, engine, iops, clat, cpu, ios = f
    rows[case, engine].append(float(iops))
engines = sys.argv[2].split()
med = statistics.median
def spread(xs, fmt):
    return f"{fmt(med(xs))} ({fmt(min(xs))}-{fmt(max(xs))})"
n = lambda x: f"{x:,.0f}"
r2 = lambda x: f"{x:.2f}"
ours = [e for e in engines if e.startswith("syslets")]
ratios = [(a, b) for a in ours for b in ("glibc", "io_uring", "base")
          if b in engines]
print("| case | " + " | ".join(engines) + " | " + " | ".join(f"{a} / {b}" for a, b in ratios) + " |")
print("|---" * (1 + len(engines) + len(ratios)) + "|")
for case in dict.fromkeys(c for c, _ in rows):
    cells = [spread(rows[case, e], n) for e in engines]
    for a, b in ratios:
        per_round = [x / y for x, y in zip(rows[case, a], rows[case, b])]
        cells.append(spread(per_round, r2))
    print(f"| {case} | " + " | ".join(cells) + " |")
print()
print("median IOPS (min-max over the rounds); ratios: median (min-max) of the per-round ratios")
print("load average (1, 5, 15 min): " + "; ".join(loads))
print()
print("every round (IOPS):")
for (case, engine), xs in rows.items():
    print(f"  {case:11} {engine:8} " + " ".join(n(x) for x in xs))
EOF
