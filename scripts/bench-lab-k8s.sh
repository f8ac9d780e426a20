#!/usr/bin/env bash
# Measures the Kubernetes lab (not a timed test): `lab up --kubernetes` from cached
# binaries until every node and the fixtures are Ready, and the memory (summed RSS) of all
# the lab's processes once it is up. As root; budgets: 60 s and 4 GB.
#   bash scripts/bench-lab-k8s.sh [--keep]     (--keep leaves the lab up afterwards)
set -euo pipefail
cd "$(dirname "$0")/.."

keep=0
[ "${1:-}" = "--keep" ] && keep=1
bin=target/debug/kubedrill
dir=/var/lib/kubedrill/lab-k8s

bash scripts/build-lab-bins.sh >/dev/null
[ -x "$bin" ] || cargo build --locked --bins
"$bin" lab down --kubernetes >/dev/null

start=$(date +%s.%N)
"$bin" lab up --kubernetes >/dev/null
end=$(date +%s.%N)
up_s=$(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b - a}')

# Every process in the lab's namespaces (kdk8s-*), as `lab down` finds them, zombies
# left out; plus any process carrying the lab's marker outside them (there should be none).
pids=$( { for ns in $(ip netns list | awk '$1 ~ /^kdk8s-/ {print $1}'); do ip netns pids "$ns"; done
          grep -lx "KUBEDRILL_LAB_DIR=$dir" --null-data /proc/[0-9]*/environ 2>/dev/null | sed 's#/proc/##; s#/environ##'
        } | sort -un || true)
total_kb=0
count=0
declare -A by_name
for pid in $pids; do
    state=$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null) || continue
    [ "$state" = Z ] && continue
    kb=$(awk '/^VmRSS:/{print $2}' "/proc/$pid/status" 2>/dev/null) || continue
    [ -n "$kb" ] || continue
    name=$(cat "/proc/$pid/comm" 2>/dev/null) || continue
    total_kb=$((total_kb + kb))
    count=$((count + 1))
    by_name[$name]=$(( ${by_name[$name]:-0} + kb ))
done

echo "lab up --kubernetes (nodes Ready, fixtures Ready): ${up_s} s (budget 60 s)"
printf 'memory of the running lab (sum of RSS of %d processes): %d MiB (budget 4096 MiB)\n' "$count" $((total_kb / 1024))
for name in "${!by_name[@]}"; do
    printf '  %-24s %6d MiB\n' "$name" $((by_name[$name] / 1024))
done | sort -k2 -n -r
if [ "$keep" = 0 ]; then
    start=$(date +%s.%N)
    "$bin" lab down --kubernetes >/dev/null
    end=$(date +%s.%N)
    echo "lab down: $(awk -v a="$start" -v b="$end" 'BEGIN{printf "%.1f", b - a}') s"
fi
