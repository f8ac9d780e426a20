#!/usr/bin/env bash
# Benchmarks (figures and ratios, no pass/fail): the engine sampling 2,000 samples/s of tcp
# and of http probes over a long drill (CPU share, peak RSS, report sizes), and kubedrill's
# SSH transport against the ssh CLI, and kubedrill's drain against kubectl drain on a
# Kubernetes lab of its own (scripts/bench-drain.sh). Run as root; builds in release mode.
#   KUBEDRILL_BENCH_SECONDS=3600 bash scripts/bench.sh    # the one-hour drill (default 120 s)
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cargo build --release --bins --example bench --example bench_engine
# The lab looks for the kubelet stand-in next to the running binary.
cp target/release/kubedrill-kubelet-standin target/release/examples/ 2>/dev/null || true
target/release/examples/bench_engine
target/release/examples/bench
bash scripts/bench-drain.sh
