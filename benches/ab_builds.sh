#!/bin/sh
# Two release builds side by side: the open+fstat+close bench and the hot du
# walk of each, interleaved (A B, B A, ...), so that drift hits both alike.
#
#   benches/ab_builds.sh OLD_TARGET_DIR NEW_TARGET_DIR [ROUNDS] [DIR]
#
# Each TARGET_DIR is a checkout's `target/` after
# `cargo bench --bench open_fstat --no-run && cargo build --release --example du`.
# Run it under the bench lock in its own autogroup (see BENCHMARKS.md).
set -eu
old=$1 new=$2 rounds=${3:-5} dir=${4:-/usr}
bench() { ls -t "$1"/release/deps/open_fstat-* | grep -v '\.d$' | head -1; }
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) = 1 ]; then order="old new"; else order="new old"; fi
  for side in $order; do
    if [ "$side" = old ]; then t=$old; else t=$new; fi
    echo "## round $r $side open_fstat load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$(bench "$t")" --bench 2>&1 | tail -3
    echo "## round $r $side du load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$t"/release/examples/du --compare "$dir" 2>&1 | grep -E '^ +1 |^ratio'
  done
done
