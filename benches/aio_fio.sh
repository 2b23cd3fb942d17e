#!/usr/bin/env bash
# POSIX AIO under fio, side by side in one run: glibc's implementation vs
# LD_PRELOAD=target/release/libsyslets.so (this crate's c-abi library), with
# fio's io_uring and psync engines as references.
#
#   fio --ioengine=posixaio --iodepth=32 --bs=4k --rw=randread on a 256 MiB file
#
# in three cases:
#   cached  page-cached: the file is read once and kept resident (mlocked by
#           benches/pagelock.c, since other processes on a shared machine drop
#           caches), fio runs with --invalidate=0
#   cold    buffered, fio's default invalidation (the cache is dropped for the
#           file when each job starts, then fills as the job reads)
#   direct  --direct=1
#
# Every configuration runs REPS times, interleaved (so that load from other
# processes spreads over all of them); the table shows the median IOPS.
#
# Environment: RUNTIME (seconds per run, default 10), REPS (default 3),
# CASES (default "cached cold direct"), AIO_BENCH_DIR (default target/aio-bench;
# must be on a disk-backed file system that supports O_DIRECT, not tmpfs).
# Needs root for `apt-get install fio` when fio is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

RUNTIME=${RUNTIME:-10}
REPS=${REPS:-3}
CASES=${CASES:-cached cold direct}
DIR=${AIO_BENCH_DIR:-$PWD/target/aio-bench}
FILE=$DIR/fio-256m

if ! command -v fio >/dev/null; then
    echo "== installing fio" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq fio >/dev/null
fi
for tool in cc python3 fincore; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

echo "== building the c-abi library (release)" >&2
cargo build --release --lib --features c-abi --quiet
LIB=$PWD/target/release/libsyslets.so
nm -D --defined-only "$LIB" | grep -q ' aio_read$' || { echo "$LIB exports no aio_read" >&2; exit 1; }

mkdir -p "$DIR"
fstype=$(stat -f -c %T "$DIR")
if [ "$fstype" = tmpfs ]; then
    echo "$DIR is on tmpfs: no O_DIRECT, no cold reads; set AIO_BENCH_DIR" >&2
    exit 1
fi
if [ "$(stat -c %s "$FILE" 2>/dev/null || echo 0)" != 268435456 ]; then
    echo "== writing $FILE (256 MiB)" >&2
    dd if=/dev/urandom of="$FILE" bs=1M count=256 status=none
    sync
fi
dd if="$FILE" of=/dev/null bs=4k count=1 iflag=direct status=none ||
    { echo "$DIR ($fstype) does not support O_DIRECT" >&2; exit 1; }
cc -O2 -Wall -o "$DIR/pagelock" benches/pagelock.c

COMMON=(--name=aio --filename="$FILE" --size=256m --bs=4k --rw=randread
    --iodepth=32 --runtime="$RUNTIME" --time_based --output-format=json)
ENGINES=(glibc syslets io_uring psync)
RESULTS=$DIR/results.txt
: >"$RESULTS"

# run CASE ENGINE EXTRA-ARGS...: one fio run; appends "case engine iops
# clat_us cpu%" to $RESULTS.
run() {
    local case=$1 engine=$2
    shift 2
    local env=() ioengine=posixaio
    case $engine in
        glibc) ;;
        # The banner proves the preload took (checked below).
        syslets) env=(LD_PRELOAD="$LIB" SYSLETS_AIO_BANNER=1) ;;
        io_uring | psync) ioengine=$engine ;;
    esac
    env "${env[@]}" fio "${COMMON[@]}" --ioengine="$ioengine" "$@" \
        --output="$DIR/run.json" >/dev/null 2>"$DIR/run.err" ||
        { cat "$DIR/run.err" >&2; exit 1; }
    if [ "$engine" = syslets ] && ! grep -q '^syslets-aio: active$' "$DIR/run.err"; then
        echo "the preloaded library did not serve fio's AIO" >&2
        exit 1
    fi
    python3 - "$case" "$engine" "$DIR/run.json" >>"$RESULTS" <<'EOF'
import json, sys
case, engine, path = sys.argv[1:]
job = json.load(open(path))["jobs"][0]
r = job["read"]
print(case, engine, round(r["iops"]), round(r["clat_ns"]["mean"] / 1000, 1),
      round(job["usr_cpu"] + job["sys_cpu"], 1))
EOF
    tail -n1 "$RESULTS" >&2
}

for case in $CASES; do
    extra=()
    lock_pid=
    case $case in
        cached)
            extra=(--invalidate=0)
            cat "$FILE" >/dev/null
            coproc LOCK { "$DIR/pagelock" "$FILE"; }
            lock_pid=$LOCK_PID
            read -r _ <&"${LOCK[0]}"
            ;;
        cold) ;;
        direct) extra=(--direct=1) ;;
        *) echo "unknown case $case" >&2; exit 1 ;;
    esac
    echo "== $case (resident: $(fincore -n -o RES "$FILE" | tr -d ' '))" >&2
    for _ in $(seq "$REPS"); do
        for engine in "${ENGINES[@]}"; do
            run "$case" "$engine" "${extra[@]}"
        done
    done
    if [ -n "$lock_pid" ]; then
        echo "== $case done (resident: $(fincore -n -o RES "$FILE" | tr -d ' '))" >&2
        eval "exec ${LOCK[1]}>&-"
        wait "$lock_pid"
    fi
done

echo
echo "fio $(fio --version | sed 's/^fio-//'), $(nproc) CPUs, $fstype, runtime ${RUNTIME}s x $REPS (median IOPS, and mean completion latency)"
echo
python3 - "$RESULTS" <<'EOF'
import collections, statistics, sys
rows = collections.defaultdict(list)
for line in open(sys.argv[1]):
    case, engine, iops, clat, cpu = line.split()
    rows[case, engine].append((float(iops), float(clat), float(cpu)))
def med(case, engine, i):
    return statistics.median(x[i] for x in rows[case, engine])
print("| case | glibc posixaio | syslets posixaio | io_uring | psync | syslets / glibc | syslets / io_uring |")
print("|---|---|---|---|---|---|---|")
for case in dict.fromkeys(c for c, _ in rows):
    cell = lambda e: f"{med(case, e, 0):,.0f} ({med(case, e, 1):,.0f} µs)"
    s, g, u = (med(case, e, 0) for e in ("syslets", "glibc", "io_uring"))
    print(f"| {case} | {cell('glibc')} | {cell('syslets')} | {cell('io_uring')} | {cell('psync')} "
          f"| {s / g:.2f}x | {s / u:.2f}x |")
print()
print("runs (IOPS):")
for (case, engine), xs in rows.items():
    print(f"  {case:6} {engine:8} " + " ".join(f"{x[0]:,.0f}" for x in xs))
EOF
