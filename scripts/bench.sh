#!/usr/bin/env bash
# Benchmarks (figures and ratios, no pass/fail): SSH transport vs the ssh CLI, and the
# engine under many fast probes. Run as root; builds in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
cargo build --release --bins --example bench
# The lab looks for the kubelet stand-in next to the running binary.
cp target/release/kubedrill-kubelet-standin target/release/examples/ 2>/dev/null || true
target/release/examples/bench
