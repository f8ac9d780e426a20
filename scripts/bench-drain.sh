#!/usr/bin/env bash
# Benchmark (figures and a ratio, no pass/fail): kubedrill's drain against
# `kubectl drain --ignore-daemonsets --delete-emptydir-data` (the lab's built kubectl) on
# copies of the same state: one kwok worker carrying KUBEDRILL_BENCH_PODS pods (default
# 500; Deployments of one replica, each with a PodDisruptionBudget), time and API requests
# (apiserver_request_total) of each, and whether any pod was evicted twice. Brings up its
# own Kubernetes lab (/var/lib/kubedrill/lab-k8s-bench, prefix kdbench, 10.214.231.0/24)
# beside any other and takes it down afterwards (KUBEDRILL_BENCH_KEEP=1 keeps it).
# As root:   bash scripts/bench-drain.sh
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
bash scripts/build-lab-bins.sh >/dev/null
cargo build --release --bins --example bench_drain
target/release/examples/bench_drain
