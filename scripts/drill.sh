#!/usr/bin/env bash
# The main job: install what is needed, build kubedrill, and run drills.
#   scripts/drill.sh                       local lab: bring it up, run scenarios/lab/*.yaml
#   scripts/drill.sh --kubeconfig FILE [--context NAME] [--vars FILE]
#                                          your cluster: run scenarios/kind/*.yaml against it
#                                          (etcd-partition-member and nats-leader-kill need
#                                          setup and variables: see docs/etcd-nats.md)
# Reports land in reports/<scenario>-<UTC timestamp>/ (json, junit, md, html).
set -euo pipefail
cd "$(dirname "$0")/.."

kubeconfig=""
context=""
vars=""
while [ $# -gt 0 ]; do
    case "$1" in
        --kubeconfig) kubeconfig="$2"; shift 2 ;;
        --context) context="$2"; shift 2 ;;
        --vars) vars="$2"; shift 2 ;;
        *) echo "usage: $0 [--kubeconfig FILE [--context NAME] [--vars FILE]]" >&2; exit 2 ;;
    esac
done

bash scripts/install-deps.sh
. scripts/env.sh
cargo build --locked --bins
bin=target/debug/kubedrill

if [ -n "$kubeconfig" ]; then
    args=(--kubeconfig "$kubeconfig")
    [ -n "$context" ] && args+=(--context "$context" --allow-context "$context")
    [ -n "$vars" ] && args+=(--vars "$vars")
    status=0
    "$bin" run "${args[@]}" scenarios/kind/*.yaml || status=$?
else
    "$bin" lab up >/dev/null
    "$bin" lab status
    status=0
    "$bin" run --vars /var/lib/kubedrill/lab/vars.yaml scenarios/lab/*.yaml || status=$?
    echo "the lab stays up for more drills; remove it with: $bin lab down"
fi
echo "reports: $(pwd)/reports"
exit "$status"
